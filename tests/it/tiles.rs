//! The log served as C2SP tlog-tiles (`/checkpoint`, `/tile/<L>/<N>[.p/<W>]`,
//! `/tile/entries/<N>[.p/<W>]`), read as a tiles client would: every hash recomputed from the
//! entries the bundles carry, the root equal to the signed checkpoint's, full tiles that never
//! change as the log grows; entry bundles of a waste log only for readers who see everything;
//! no entry longer than a bundle's 16-bit length prefix allows.

use crate::support::{authority, key, key_added, signed, Server};
use crate::world::{post, World};
use serde_json::json;
use wasteledger::client::LogClient;
use wasteledger::ledger::merkle::{self, Hash};
use wasteledger::ledger::note::Checkpoint;
use wasteledger::ledger::tiles::{self, Tile, MAX_ENTRY_BYTES};

/// GET as anyone: status, Cache-Control, body.
fn get(base: &str, path: &str) -> (u16, String, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(format!("{base}{path}")).call().unwrap();
    let cache = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        r.status().as_u16(),
        cache,
        r.body_mut()
            .with_config()
            .limit(1 << 24)
            .read_to_vec()
            .unwrap(),
    )
}

fn ok_bytes(base: &str, path: &str) -> Vec<u8> {
    let (status, _, body) = get(base, path);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    body
}

/// Grow a bare log to `size` entries, eight clients at once.
pub(crate) fn grow(c: &LogClient, base: &str, to: u64) {
    let now = |c: &LogClient| -> u64 {
        let note = c.get_ok("/v1/log/checkpoint").unwrap();
        note.lines().nth(1).unwrap().parse().unwrap()
    };
    let missing = to - now(c);
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let base = base.to_string();
            s.spawn(move || {
                let c = LogClient::new(&base);
                let writer = key(1);
                let mut i = t;
                while i < missing {
                    let ev = signed(
                        json!({"type": "note", "text": format!("load {to}-{i}")}),
                        &[&writer],
                    );
                    let (status, a) = post(&c, &ev.to_bytes());
                    assert_eq!(status, 201, "{a}");
                    i += 8;
                }
            });
        }
    });
    assert_eq!(now(c), to);
}

fn hashes(bytes: &[u8]) -> Vec<Hash> {
    assert_eq!(bytes.len() % 32, 0);
    bytes.chunks(32).map(|h| h.try_into().unwrap()).collect()
}

#[test]
fn the_tile_tree_holds_the_logs_hashes_and_a_full_tile_never_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_bare(&dir.path().join("log"));
    let c = server.client();
    let base = server.url.trim_end_matches('/').to_string();
    assert_eq!(post(&c, &key_added(&key(1), "writer").to_bytes()).0, 201);
    grow(&c, &base, 1_100);

    // The checkpoint, as tiles clients fetch it: the same signed note, kept briefly.
    let (status, cache, note) = get(&base, "/checkpoint");
    assert_eq!(status, 200);
    assert_eq!(cache, "max-age=5");
    let note = String::from_utf8(note).unwrap();
    assert_eq!(note, c.get_ok("/v1/log/checkpoint").unwrap());
    let cp = Checkpoint::open(&note, &c.verifier().unwrap()).unwrap();
    assert_eq!(cp.size, 1_100);

    // Every resource the tree of this size has, and nothing beyond it.
    let all = tiles::tiles_of(cp.size);
    let mut entries: Vec<Vec<u8>> = Vec::new();
    for t in all.iter().filter(|t| matches!(t, Tile::Entries { .. })) {
        let bundle = ok_bytes(&base, &format!("/{}", t.path()));
        entries.extend(
            tiles::unbundle(&bundle)
                .unwrap()
                .into_iter()
                .map(<[u8]>::to_vec),
        );
    }
    assert_eq!(entries.len(), 1_100);
    for i in [0u64, 255, 256, 1_099] {
        assert_eq!(
            entries[i as usize],
            ok_bytes(&base, &format!("/v1/log/entries/{i}")),
            "entry {i} in its bundle is the log's entry"
        );
    }
    let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    assert_eq!(
        merkle::mth(&leaves),
        cp.root,
        "the entries make the signed root"
    );
    for t in all.iter() {
        let Tile::Hashes {
            level,
            index,
            width,
        } = *t
        else {
            continue;
        };
        let (status, cache, body) = get(&base, &format!("/{}", t.path()));
        assert_eq!(status, 200, "{}", t.path());
        assert_eq!(
            cache,
            if width.is_none() {
                "public, max-age=31536000, immutable"
            } else {
                "public, max-age=5"
            },
            "{}",
            t.path()
        );
        let span = 256usize.pow(u32::from(level));
        let want: Vec<Hash> = (0..t.count() as usize)
            .map(|i| {
                let start = (index as usize * 256 + i) * span;
                merkle::mth(&leaves[start..start + span])
            })
            .collect();
        assert_eq!(hashes(&body), want, "{}", t.path());
    }
    let levels: Vec<String> = all.iter().map(Tile::path).collect();
    assert!(
        levels.contains(&"tile/0/004.p/76".to_string())
            && levels.contains(&"tile/1/000.p/4".to_string())
            && levels.contains(&"tile/entries/004.p/76".to_string()),
        "{levels:?}"
    );

    // Beyond the tree: 404; a path in another spelling: 400 naming it.
    for (path, status) in [
        ("/tile/0/004", 404),
        ("/tile/0/004.p/77", 404),
        ("/tile/entries/005.p/1", 404),
        ("/tile/2/000.p/1", 404),
        ("/tile/0/4", 400),
        ("/tile/0/004.p/076", 400),
        ("/tile/64/000", 400),
    ] {
        let (got, _, body) = get(&base, path);
        assert_eq!(got, status, "{path}: {}", String::from_utf8_lossy(&body));
        if status == 400 {
            assert!(String::from_utf8_lossy(&body).contains("\"field\":\"path\""));
        }
    }

    // The log grows: the partial tile of the earlier size is still served, its full tile has
    // the same first hashes, and the tiles that were full have not changed a byte.
    let before: Vec<(String, Vec<u8>)> = ["/tile/0/000", "/tile/0/003", "/tile/entries/002"]
        .iter()
        .map(|p| (p.to_string(), ok_bytes(&base, p)))
        .collect();
    let partial = ok_bytes(&base, "/tile/0/004.p/76");
    grow(&c, &base, 1_280);
    let full = ok_bytes(&base, "/tile/0/004");
    assert_eq!(full.len(), 256 * 32);
    assert_eq!(&full[..partial.len()], &partial[..]);
    assert_eq!(ok_bytes(&base, "/tile/0/004.p/76"), partial);
    assert_eq!(
        ok_bytes(&base, "/tile/1/000.p/5")[..4 * 32],
        ok_bytes(&base, "/tile/1/000.p/4")[..]
    );
    for (p, bytes) in before {
        assert_eq!(ok_bytes(&base, &p), bytes, "{p} changed");
    }
}

#[test]
fn a_waste_logs_entry_bundles_are_for_readers_who_see_everything_unless_it_is_public() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(&dir.path().join("closed"));
    let base = w.server.url.trim_end_matches('/').to_string();
    let size = w.head().lines().nth(1).unwrap().parse::<u64>().unwrap();
    let width = size % 256;
    let bundle = format!("/tile/entries/000.p/{width}");
    assert_eq!(get(&base, &bundle).0, 401, "anonymous");
    assert_eq!(
        w.c.get_bytes_signed(&bundle, &w.plant.key).unwrap().0,
        403,
        "a party does not read the whole log"
    );
    let (status, body) = w.c.get_bytes_signed(&bundle, &w.bureau.key).unwrap();
    assert_eq!(status, 200);
    assert_eq!(tiles::unbundle(&body).unwrap().len() as u64, width);
    // Hash tiles hold no business: anyone.
    assert_eq!(get(&base, &format!("/tile/0/000.p/{width}")).0, 200);

    let open = World::start_with(&dir.path().join("open"), &["--public-log"]);
    let base = open.server.url.trim_end_matches('/').to_string();
    let (status, cache, _) = get(&base, &bundle);
    assert_eq!(status, 200, "a public log's entries are anyone's");
    assert_eq!(cache, "public, max-age=5");
}

#[test]
fn an_event_whose_entry_would_not_fit_a_bundle_is_refused_and_the_log_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_bare(&dir.path().join("log"));
    let c = server.client();
    let writer = key(1);
    assert_eq!(post(&c, &key_added(&writer, "writer").to_bytes()).0, 201);
    let note = |pad: usize| signed(json!({"type": "note", "text": "x".repeat(pad)}), &[&writer]);
    // An event the body limit takes (the largest), whose entry (with its index, chain link and
    // time) would pass 65,535 bytes.
    let max = wasteledger::ledger::event::MAX_EVENT_BYTES;
    let room = max - note(0).to_bytes().len();
    let big = note(room);
    assert_eq!(big.to_bytes().len(), max);
    let before = c.get_ok("/v1/log/checkpoint").unwrap();
    let (status, p) = post(&c, &big.to_bytes());
    assert_eq!(status, 413, "{p}");
    assert_eq!(p["field"], "event");
    assert!(
        p["detail"].as_str().unwrap().contains("at most 65535"),
        "{p}"
    );
    assert_eq!(c.get_ok("/v1/log/checkpoint").unwrap(), before);
    // The largest that fits is taken, and its bundle carries it.
    let fits = note(room - 200);
    let (status, a) = post(&c, &fits.to_bytes());
    assert_eq!(status, 201, "{a}");
    let entry = c
        .get_bytes_signed(&format!("/v1/log/entries/{}", a["index"]), &authority())
        .unwrap()
        .1;
    assert!(entry.len() <= MAX_ENTRY_BYTES);
    let size = a["index"].as_u64().unwrap() + 1;
    let bundle = get(
        server.url.trim_end_matches('/'),
        &format!("/tile/entries/000.p/{size}"),
    )
    .2;
    assert_eq!(
        *tiles::unbundle(&bundle).unwrap().last().unwrap(),
        &entry[..]
    );
}
