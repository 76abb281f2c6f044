//! Transfer stations: loads consolidated into one, or one split into several.

use crate::domain::checks::*;
use crate::domain::codes::{ManifestNumber, Uscc};
use crate::domain::events::*;
use crate::domain::fold::{Domain, Effect};
use crate::domain::model::*;
use crate::domain::query::DomainQuery;
use crate::ledger::event::SignedEvent;
use crate::ledger::state::Refusal;
use crate::ledger::time::Timestamp;

impl Domain {
    /// `station.consolidated`: a station sends loads it holds on as one.
    pub(super) fn decide_consolidation(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        c: Consolidated,
    ) -> Result<Effect, Refusal> {
        self.party_with(&c.station, Role::Station, "event.station")?;
        self.require_signed_by(event, &c.station, "signatures", "station.consolidated")?;
        if c.inputs.len() < 2 {
            return Err(f("event.inputs", "at least two manifests to consolidate"));
        }
        let mut stream = None;
        let mut inputs = Vec::new();
        for (i, n) in c.inputs.iter().enumerate() {
            let fld = format!("event.inputs[{i}]");
            let m = self.manifest_for(event, n, &fld)?;
            if c.inputs[..i].contains(n) {
                return Err(f(&fld, format!("each manifest once; {n} is listed twice")));
            }
            if m.status != Status::AtStation || m.holder != c.station {
                return Err(Refusal::NotHolder {
                    field: fld,
                    detail: format!(
                        "manifest {n} is {} with {}, not at station {}",
                        m.status.as_str(),
                        m.holder,
                        c.station
                    ),
                });
            }
            if *stream.get_or_insert(m.stream) != m.stream {
                return Err(f(&fld, "manifests of one stream"));
            }
            inputs.push(m);
        }
        let stream = stream.expect("two inputs");
        self.outgoing(
            index,
            time,
            &c.station,
            stream,
            std::slice::from_ref(&c.output),
            &inputs.iter().collect::<Vec<_>>(),
            StepKind::Consolidated,
            "event.output.",
        )
    }

    /// `station.split`: a station sends a load it holds on as several.
    pub(super) fn decide_split(
        &self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        s: Split,
    ) -> Result<Effect, Refusal> {
        self.party_with(&s.station, Role::Station, "event.station")?;
        self.require_signed_by(event, &s.station, "signatures", "station.split")?;
        let m = self.manifest_for(event, &s.input, "event.input")?;
        if m.status != Status::AtStation || m.holder != s.station {
            return Err(Refusal::NotHolder {
                field: "event.input".into(),
                detail: format!(
                    "manifest {} is {} with {}, not at station {}",
                    m.number,
                    m.status.as_str(),
                    m.holder,
                    s.station
                ),
            });
        }
        if s.outputs.len() < 2 {
            return Err(f("event.outputs", "at least two outgoing loads"));
        }
        self.outgoing(
            index,
            time,
            &s.station,
            m.stream,
            &s.outputs,
            &[&m],
            StepKind::Split,
            "event.outputs[{}].",
        )
    }

    /// New manifests for loads leaving a station, linked both ways to the ones they came from.
    #[allow(clippy::too_many_arguments)]
    fn outgoing(
        &self,
        index: u64,
        time: Timestamp,
        station: &Uscc,
        stream: Stream,
        outs: &[Outgoing],
        inputs: &[&Manifest],
        kind: StepKind,
        field: &str,
    ) -> Result<Effect, Refusal> {
        let origin = self
            .find_site(&mut |s| s.reg.party == *station && s.reg.kind == SiteKind::Station)
            .ok_or_else(|| {
                unknown(
                    "event.station",
                    format!("{station} has no registered station site"),
                )
            })?
            .reg
            .site
            .clone();
        let mut new = Vec::new();
        for (k, o) in outs.iter().enumerate() {
            // `field` is "event.output." or "event.outputs[{}]." (filled with the position).
            let field = field.replace("{}", &k.to_string());
            self.check_route(&o.destination, &o.haulers, &field)?;
            self.check_lines(stream, &o.lines, &format!("{field}lines"))?;
            let number = self.allocate(station, time, k as u32, "event.station")?;
            let mut m = self.new_manifest(
                number,
                stream,
                station,
                &origin,
                &o.destination,
                &o.haulers,
                &o.lines,
                index,
                time,
                kind,
            );
            m.status = Status::Issued;
            m.sources = inputs.iter().map(|i| i.number.clone()).collect();
            new.push(m);
        }
        let onward: Vec<ManifestNumber> = new.iter().map(|m| m.number.clone()).collect();
        let status = if kind == StepKind::Split {
            Status::Split
        } else {
            Status::Consolidated
        };
        let updated = inputs
            .iter()
            .map(|i| {
                let mut m = (*i).clone();
                m.status = status;
                m.onward = onward.clone();
                m.steps.push(Step::at(index, time, kind));
                m
            })
            .collect();
        Ok(Effect::Manifests { new, updated })
    }
}
