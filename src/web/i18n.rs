//! PURE: the words pages show for the domain's identifiers, Chinese first (zh-CN, the default)
//! and English. Every table is a `match` over a typed value, so a new variant does not compile
//! until it has both languages; the string-keyed ones (event types, scan verdicts, problem
//! types) are enums declared with their wire key and both texts in one row. [`js_table`] exports
//! the same tables as JSON for the pages' browser code: one source for both.

use crate::domain::codes::{CwType, Hazard, RdCode, RdKind, Unit};
use crate::domain::events::{
    Discrepancy, Form, LicenceKind, PermitKind, PersonRole, Role, SiteKind, Stream, Verdict,
};
use crate::domain::model::{FlagKind, Status};
use serde_json::{json, Map, Value};

/// The page's language: Chinese first, English as a switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The language a tag (`zh-CN`, `en`, `en-GB`) or an `Accept-Language` value
    /// (`en-US,en;q=0.9,zh;q=0.8`) asks for: the most preferred of Chinese and English named,
    /// Chinese when neither is (or the value does not parse).
    pub fn from_tag(tag: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in tag.split(',') {
            let mut it = part.split(';');
            let name = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = name.split(['-', '_']).next().unwrap_or("");
            let lang = match primary {
                "zh" => Lang::Zh,
                "en" => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }

    /// The BCP 47 tag for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The `?lang=` value that switches to this language.
    pub fn param(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

/// One text in both languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text {
    pub zh: &'static str,
    pub en: &'static str,
}

impl Text {
    pub fn get(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Zh => self.zh,
            Lang::En => self.en,
        }
    }
}

const fn t(zh: &'static str, en: &'static str) -> Text {
    Text { zh, en }
}

/// An enum keyed by its wire text, with both languages in the same row as the variant.
macro_rules! keyed {
    ($(#[$m:meta])* $name:ident { $($v:ident = $key:literal, $zh:literal, $en:literal;)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($v,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)+];

            /// The wire text.
            pub fn key(self) -> &'static str {
                match self { $($name::$v => $key,)+ }
            }

            /// The variant of a wire text.
            pub fn parse(key: &str) -> Option<$name> {
                match key { $($key => Some($name::$v),)+ _ => None }
            }

            pub fn text(self) -> Text {
                match self { $($name::$v => t($zh, $en),)+ }
            }
        }
    };
}

keyed! {
    /// Every event type the log knows, as a step in words (交接 for `custody.handover`).
    EventType {
        LogGenesis = "log.genesis", "日志创建", "log created";
        KeyAdded = "key.added", "登记密钥", "key added";
        KeyRevoked = "key.revoked", "吊销密钥", "key revoked";
        KeyDelegated = "key.delegated", "授权设备密钥", "device key delegated";
        PartyRegistered = "party.registered", "单位登记", "party registered";
        LicenceGranted = "licence.granted", "许可登记", "licence granted";
        LicenceRevoked = "licence.revoked", "许可撤销", "licence revoked";
        VehicleRegistered = "vehicle.registered", "车辆登记", "vehicle registered";
        SiteRegistered = "site.registered", "场所登记", "site registered";
        PersonRegistered = "person.registered", "人员登记", "person registered";
        ManifestIssued = "manifest.issued", "开具联单", "manifest issued";
        ManifestVoided = "manifest.voided", "作废联单", "manifest voided";
        ManifestCorrected = "manifest.corrected", "更正联单", "manifest corrected";
        Handover = "custody.handover", "交接", "hand-over";
        Weighed = "custody.weighed", "过磅", "weighed";
        Received = "custody.received", "接收", "received";
        Treated = "custody.treated", "利用处置", "treated";
        Consolidated = "station.consolidated", "合并转运", "consolidated";
        Split = "station.split", "拆分转运", "split";
        Inspection = "inspection.recorded", "检查记录", "inspection";
        Track = "vehicle.track", "车辆轨迹", "vehicle track";
        EvidenceExported = "evidence.exported", "调取证据", "evidence exported";
        CaseNoted = "case.noted", "异常处置记录", "anomaly handled";
    }
}

keyed! {
    /// The verdict on a scanned code (`POST /v1/scan`, `GET /m/{token}`).
    ScanVerdict {
        Valid = "valid", "有效", "Valid";
        Superseded = "superseded", "已更正", "Corrected since";
        WentOn = "went_on", "已转入新联单", "Went on under another manifest";
        AtDestination = "at_destination", "已到达目的地", "Already at its destination";
        NotPickedUp = "not_picked_up", "未交接起运", "Not picked up";
        WrongVehicle = "wrong_vehicle", "车辆不符", "Wrong truck";
        Voided = "voided", "已作废", "Voided";
        Closed = "closed", "已办结", "Closed";
        Forged = "forged", "伪造：签名无效", "Forged: bad signature";
        OtherLog = "other_log", "非本系统签发", "Issued by another log";
        Malformed = "malformed", "无法识别的码", "Not a manifest code";
        UnknownManifest = "unknown_manifest", "联单不存在", "Unknown manifest";
        ContainerNotOnManifest = "container_not_on_manifest", "容器不在此联单上", "Container not on this manifest";
        Mismatch = "mismatch", "与记录不符", "Does not match the log";
    }
}

/// How a verdict reads at a glance: the colour of its band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Green: the load may go on.
    Good,
    /// Amber: look closer.
    Warn,
    /// Red: stop the load.
    Bad,
}

impl ScanVerdict {
    pub fn tone(self) -> Tone {
        use ScanVerdict::*;
        match self {
            Valid => Tone::Good,
            Superseded | WentOn | AtDestination => Tone::Warn,
            NotPickedUp
            | WrongVehicle
            | Voided
            | Closed
            | Forged
            | OtherLog
            | Malformed
            | UnknownManifest
            | ContainerNotOnManifest
            | Mismatch => Tone::Bad,
        }
    }

    /// What the person holding the phone should do.
    pub fn advice(self) -> Text {
        use ScanVerdict::*;
        match self {
            Valid => t(
                "本系统签发的真码，联单正常。",
                "A genuine code of this log; the manifest is in order.",
            ),
            Superseded => t(
                "联单已更正，此码是旧版本：请按最新版本核对货物。",
                "The manifest was corrected since this code was printed: check the load against the current version.",
            ),
            WentOn => t(
                "货物已合并或拆分，现在按新联单运输。",
                "The load now travels under another manifest (consolidated or split).",
            ),
            AtDestination => t(
                "联单显示货物已到目的地；在路上见到此货物属可疑。",
                "The log has the load at its destination; on the road it is suspect.",
            ),
            NotPickedUp => t(
                "没有双方签字的交接记录：货物不应在路上。",
                "No signed hand-over in the log: this load should not be on the road.",
            ),
            WrongVehicle => t(
                "货物不在交接记录的车辆上。",
                "The load is on a truck its hand-over does not name.",
            ),
            Voided => t(
                "联单已作废，不得凭此运输。",
                "The manifest was voided: no load may move under it.",
            ),
            Closed => t(
                "联单已办结，不应再有货物凭此码运输。",
                "The manifest is closed: no load should move under this code.",
            ),
            Forged => t(
                "签名无效，此码可能是伪造的。请扣留货物并报告。",
                "The signature does not verify: the code may be forged. Hold the load and report it.",
            ),
            OtherLog => t(
                "此码不是本系统签发的。",
                "This code was not issued by this log.",
            ),
            Malformed => t(
                "这不是联单二维码，或已损坏。",
                "Not a manifest code, or a damaged one.",
            ),
            UnknownManifest => t(
                "码的签名有效，但系统中没有这张联单。",
                "The code is signed by this log, but the manifest is not in it.",
            ),
            ContainerNotOnManifest => t(
                "此容器不在联单的当前版本上。",
                "This container is not on the manifest as it stands.",
            ),
            Mismatch => t(
                "码上的开具记录与系统不符。",
                "The code names another issuing entry than the log's.",
            ),
        }
    }
}

keyed! {
    /// The RFC 9457 problem types the server answers (`urn:wasteledger:problem:{key}`).
    ProblemKind {
        AmbiguousName = "ambiguous-name", "名称对应多个单位，请写得更具体", "Name matches several parties";
        BadCosignature = "bad-cosignature", "见证签名无效", "Bad cosignature";
        BadField = "bad-field", "填写的格式不正确", "Bad field";
        BadRequest = "bad-request", "请求有误", "Bad request";
        BadSignature = "bad-signature", "签名验证失败", "Signature does not verify";
        BodyTimeout = "body-timeout", "上传超时，请重试", "Upload timed out";
        Busy = "busy", "系统繁忙，请稍后重试", "Log busy";
        Exists = "exists", "已经存在", "Already exists";
        Forbidden = "forbidden", "无权查看或办理", "Not for this reader";
        Internal = "internal", "服务器内部错误", "Internal error";
        MalformedJson = "malformed-json", "数据格式错误", "Malformed JSON";
        MalformedNote = "malformed-note", "检查点格式错误", "Malformed checkpoint";
        ManifestClosed = "manifest-closed", "联单已办结，不再生成新码", "No new codes for this manifest";
        MethodNotAllowed = "method-not-allowed", "不支持的请求方式", "Method not allowed";
        NoContainers = "no-containers", "联单上没有容器", "No containers";
        NoCosignedCheckpoint = "no-cosigned-checkpoint", "暂无见证方签名的检查点", "No cosigned checkpoint";
        NoSuchEntry = "no-such-entry", "日志中没有这一条", "No such entry";
        NoToken = "no-token", "此联单无法生成二维码", "This manifest does not fit a QR token";
        NotAnInteger = "not-an-integer", "数值必须是整数", "Number is not an integer";
        NotAuthority = "not-authority", "需要主管部门签名", "Needs the authority's signature";
        NotCanonical = "not-canonical", "数据不是规范格式", "Not canonical JSON";
        NotFound = "not-found", "未找到", "Not found";
        NotHolder = "not-holder", "该单位当前未持有这批货物", "The party does not hold the load";
        NotSignedByLog = "not-signed-by-log", "不是本日志签名的", "Not signed by this log";
        NotThisLogsTree = "not-this-logs-tree", "不属于本日志", "Not this log's tree";
        QuotaExceeded = "quota-exceeded", "超出限额", "Quota exceeded";
        Refused = "refused", "提交被拒绝：不符合规则", "Event refused";
        RenderFailed = "render-failed", "二维码生成失败", "The code could not be drawn";
        Replay = "replay", "这条记录已经提交过", "Event already in the log";
        RevokedKey = "revoked-key", "签名密钥已被吊销", "Signer's key revoked";
        Damaged = "damaged", "日志数据库损坏，暂停接收记录，请联系管理员", "Log database damaged";
        ExpiredKey = "expired-key", "设备密钥已过有效期，请单位重新批准", "Device key expired";
        KeyNotApproved = "key-not-approved", "本机密钥尚未被单位批准（或已撤销、过期）", "Key not approved";
        PageFailed = "page-failed", "页面生成失败，请稍后重试", "Page failed";
        StateNotPersisted = "state-not-persisted", "状态未能保存", "State not persisted";
        StorageFailed = "storage-failed", "存储故障，请稍后重试", "Log storage failed";
        Store = "store", "存储错误", "Storage error";
        TooLarge = "too-large", "数据过大", "Too large";
        TooManyPending = "too-many-pending", "待处理的请求过多，请稍后重试", "Too many pending requests";
        Unauthenticated = "unauthenticated", "需要签名登录", "Signed request required";
        Unavailable = "unavailable", "服务暂不可用", "Log unavailable";
        Unencodable = "unencodable", "无法生成交接码", "Cannot be shown as a code";
        UnknownContainer = "unknown-container", "联单上没有这个容器", "Unknown container";
        UnknownExport = "unknown-export", "没有这次证据调取记录", "Unknown export";
        UnknownKey = "unknown-key", "签名密钥未登记", "Signer not registered";
        UnknownManifest = "unknown-manifest", "联单不存在", "Unknown manifest";
        UnknownPerson = "unknown-person", "人员未登记", "Unknown person";
        UnknownReference = "unknown-reference", "引用的记录不存在", "Refers to something the log does not hold";
        UnknownVehicle = "unknown-vehicle", "车辆未登记", "Unknown vehicle";
        UnsupportedMediaType = "unsupported-media-type", "不支持的数据类型", "Unsupported media type";
        UntrustedWitness = "untrusted-witness", "见证方不受信任", "Untrusted witness";
        WrongSigner = "wrong-signer", "签名人不是此环节的当事方", "Not signed by the parties to this step";
        WrongState = "wrong-state", "当前状态下不能办理", "Not possible in the current state";
    }
}

impl ProblemKind {
    /// The kind of a problem's `type` (`urn:wasteledger:problem:not-holder`).
    pub fn of_type(uri: &str) -> Option<ProblemKind> {
        ProblemKind::parse(uri.strip_prefix("urn:wasteledger:problem:").unwrap_or(uri))
    }
}

/// Every manifest status, in the order a load goes through them.
pub const STATUSES: [Status; 11] = [
    Status::Issued,
    Status::InTransit,
    Status::AtStation,
    Status::Delivered,
    Status::Received,
    Status::Rejected,
    Status::Returned,
    Status::Treated,
    Status::Voided,
    Status::Consolidated,
    Status::Split,
];

pub fn status(s: Status) -> Text {
    match s {
        Status::Issued => t("已开具，待起运", "issued, not yet picked up"),
        Status::InTransit => t("运输中", "in transit"),
        Status::AtStation => t("在转运站", "at a transfer station"),
        Status::Delivered => t("已送达", "delivered"),
        Status::Received => t("已接收", "received"),
        Status::Rejected => t("已拒收", "rejected"),
        Status::Returned => t("已退回", "returned"),
        Status::Treated => t("已利用处置", "treated"),
        Status::Voided => t("已作废", "voided"),
        Status::Consolidated => t("已合并转运", "consolidated into another load"),
        Status::Split => t("已拆分转运", "split into several loads"),
    }
}

pub const FLAG_KINDS: [FlagKind; 8] = [
    FlagKind::QuantityGap,
    FlagKind::NotLicensed,
    FlagKind::NoPermit,
    FlagKind::Overdue,
    FlagKind::UnknownCode,
    FlagKind::Diverted,
    FlagKind::WrongVehicle,
    FlagKind::ForeignDriver,
];

/// A flag as an inspector or a driver says it.
pub fn flag(f: FlagKind) -> Text {
    match f {
        FlagKind::QuantityGap => t("前后称重数量不符", "counts differ beyond tolerance"),
        FlagKind::NotLicensed => t(
            "接收单位无此废物的经营许可",
            "taker not licensed for this waste",
        ),
        FlagKind::NoPermit => t(
            "运输单位或车辆无运输许可",
            "hauler or truck lacks its permit",
        ),
        FlagKind::Overdue => t("运输超时", "overdue in transit"),
        FlagKind::UnknownCode => t("废物代码不在名录中", "waste code not in the list"),
        FlagKind::Diverted => t(
            "未送到联单的目的地",
            "delivered elsewhere than the destination",
        ),
        FlagKind::WrongVehicle => t("车辆与交接记录不符", "seen on another truck"),
        FlagKind::ForeignDriver => t("司机不属于交接双方单位", "driver belongs to neither party"),
    }
}

pub const ROLES: [Role; 7] = [
    Role::Generator,
    Role::Hauler,
    Role::Station,
    Role::Receiver,
    Role::Inspector,
    Role::Enforcement,
    Role::Auditor,
];

pub fn role(r: Role) -> Text {
    match r {
        Role::Generator => t("产生单位", "generator"),
        Role::Hauler => t("运输单位", "hauler"),
        Role::Station => t("转运站", "transfer station"),
        Role::Receiver => t("接收单位", "receiver"),
        Role::Inspector => t("检查人员", "inspector"),
        Role::Enforcement => t("执法部门", "enforcement"),
        Role::Auditor => t("审计方", "auditor"),
    }
}

pub fn person_role(r: PersonRole) -> Text {
    match r {
        PersonRole::Driver => t("司机", "driver"),
        PersonRole::Escort => t("押运员", "escort"),
    }
}

pub fn stream(s: Stream) -> Text {
    match s {
        Stream::Hazardous => t("危险废物", "hazardous waste"),
        Stream::Construction => t("建筑垃圾", "construction waste"),
    }
}

/// A construction-waste type (工程渣土 …).
pub fn cw_type(c: CwType) -> Text {
    t(c.zh(), c.en())
}

/// A hazard characteristic (T 毒性 …).
pub fn hazard(h: Hazard) -> Text {
    t(h.zh(), h.en())
}

pub const FORMS: [Form; 4] = [Form::Solid, Form::SemiSolid, Form::Liquid, Form::Gas];

pub fn form(f: Form) -> Text {
    match f {
        Form::Solid => t("固态", "solid"),
        Form::SemiSolid => t("半固态", "semi-solid"),
        Form::Liquid => t("液态", "liquid"),
        Form::Gas => t("气态", "gas"),
    }
}

/// The kinds of packaging manifests name (the packaging itself is free text on a container).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packaging {
    SteelDrum,
    PlasticDrum,
    Ibc,
    TonBag,
    Can,
    Bag,
    Box,
}

impl Packaging {
    pub const ALL: [Packaging; 7] = [
        Packaging::SteelDrum,
        Packaging::PlasticDrum,
        Packaging::Ibc,
        Packaging::TonBag,
        Packaging::Can,
        Packaging::Bag,
        Packaging::Box,
    ];

    /// The kind a packaging text names (`200 L 钢桶 steel drum`, `IBC 1000L tote`), if any.
    pub fn of(text: &str) -> Option<Packaging> {
        let l = text.to_lowercase();
        let has = |ws: &[&str]| ws.iter().any(|w| l.contains(w));
        Some(if has(&["ibc", "吨桶", "tote"]) {
            Packaging::Ibc
        } else if has(&["ton bag", "tonne bag", "fibc", "吨袋", "吨包"]) {
            Packaging::TonBag
        } else if has(&["钢桶", "steel drum", "metal drum"]) {
            Packaging::SteelDrum
        } else if has(&["塑料桶", "hdpe", "plastic drum"]) {
            Packaging::PlasticDrum
        } else if has(&["can", "jerrycan", "罐"]) {
            Packaging::Can
        } else if has(&["bag", "袋"]) {
            Packaging::Bag
        } else if has(&["box", "箱"]) {
            Packaging::Box
        } else if has(&["drum", "桶"]) {
            Packaging::SteelDrum
        } else {
            return None;
        })
    }

    pub fn text(self) -> Text {
        match self {
            Packaging::SteelDrum => t("钢桶", "steel drum"),
            Packaging::PlasticDrum => t("塑料桶", "plastic drum"),
            Packaging::Ibc => t("吨桶", "IBC tote"),
            Packaging::TonBag => t("吨袋", "ton bag"),
            Packaging::Can => t("小桶", "can"),
            Packaging::Bag => t("袋", "bag"),
            Packaging::Box => t("箱", "box"),
        }
    }
}

/// A base unit.
pub fn unit(u: Unit) -> Text {
    match u {
        Unit::G => t("克", "g"),
        Unit::Ml => t("毫升", "ml"),
    }
}

/// A receipt's discrepancy (差异) kind.
pub fn discrepancy(d: Discrepancy) -> Text {
    match d {
        Discrepancy::Quantity => t("数量不符", "quantity differs"),
        Discrepancy::Type => t("种类不符", "type differs"),
        Discrepancy::Residue => t("有残留物", "residue"),
    }
}

/// An inspection's verdict.
pub fn inspection_verdict(v: Verdict) -> Text {
    match v {
        Verdict::Pass => t("合格", "pass"),
        Verdict::Violation => t("违规", "violation"),
    }
}

pub fn licence_kind(k: LicenceKind) -> Text {
    match k {
        LicenceKind::HwOperating => t("危险废物经营许可证", "hazardous-waste operating licence"),
        LicenceKind::HwTransport => t(
            "危险货物道路运输许可",
            "hazardous-goods road transport licence",
        ),
        LicenceKind::CwDisposal => t("建筑垃圾消纳许可", "construction-waste disposal approval"),
        LicenceKind::CwTransport => t("建筑垃圾运输核准", "construction-waste transport approval"),
    }
}

pub fn permit_kind(k: PermitKind) -> Text {
    match k {
        PermitKind::HazardousGoods => t("道路危险货物运输证", "hazardous-goods vehicle permit"),
        PermitKind::Muck => t("渣土运输车辆核准", "muck-truck permit"),
    }
}

pub fn site_kind(k: SiteKind) -> Text {
    match k {
        SiteKind::Plant => t("工厂", "plant"),
        SiteKind::ConstructionSite => t("工地", "construction site"),
        SiteKind::Station => t("转运站", "transfer station"),
        SiteKind::Disposal => t("处置场所", "disposal site"),
        SiteKind::Recycling => t("资源化利用厂", "recycling plant"),
        SiteKind::Landfill => t("填埋场", "landfill"),
    }
}

/// A Basel recovery (R) or disposal (D) operation, short (R9 废油再生).
pub fn rd(code: RdCode) -> Text {
    match (code.kind(), code.number()) {
        (RdKind::R, 1) => t("用作燃料", "use as fuel"),
        (RdKind::R, 2) => t("溶剂回收", "solvent reclamation"),
        (RdKind::R, 3) => t("有机物回收", "organics recycling"),
        (RdKind::R, 4) => t("金属回收", "metal recycling"),
        (RdKind::R, 5) => t("无机物回收", "inorganics recycling"),
        (RdKind::R, 6) => t("酸碱再生", "acid or base regeneration"),
        (RdKind::R, 7) => t("污染治理组分回收", "pollution-abatement recovery"),
        (RdKind::R, 8) => t("催化剂组分回收", "catalyst recovery"),
        (RdKind::R, 9) => t("废油再生", "used-oil re-refining"),
        (RdKind::R, 10) => t("有益的土地处理", "beneficial land treatment"),
        (RdKind::R, 11) => t("利用残余物料", "use of residues"),
        (RdKind::R, 12) => t("交换待利用", "exchange for recovery"),
        (RdKind::R, 13) => t("积存待利用", "storage before recovery"),
        (RdKind::D, 1) => t("填埋", "landfill"),
        (RdKind::D, 2) => t("土地处理", "land treatment"),
        (RdKind::D, 3) => t("深井灌注", "deep injection"),
        (RdKind::D, 4) => t("地表蓄存", "surface impoundment"),
        (RdKind::D, 5) => t("安全填埋", "engineered landfill"),
        (RdKind::D, 6) => t("排入水体", "release into water"),
        (RdKind::D, 7) => t("排入海洋", "release into the sea"),
        (RdKind::D, 8) => t("生物处理", "biological treatment"),
        (RdKind::D, 9) => t("物化处理", "physico-chemical treatment"),
        (RdKind::D, 10) => t("焚烧", "incineration"),
        (RdKind::D, 11) => t("海上焚烧", "incineration at sea"),
        (RdKind::D, 12) => t("永久储存", "permanent storage"),
        (RdKind::D, 13) => t("混合后处置", "blending before disposal"),
        (RdKind::D, 14) => t("重新包装后处置", "repackaging before disposal"),
        (RdKind::D, 15) => t("暂存待处置", "storage before disposal"),
        // `RdCode` holds only R1–R13 and D1–D15.
        _ => t("利用处置", "recovery or disposal"),
    }
}

/// A field's name as a form labels it (`vehicle` → 车牌号), for the names the events, the
/// requests and the problems use.
pub fn field_name(name: &str) -> Option<Text> {
    Some(match name {
        "event" => t("事件", "event"),
        "type" => t("类型", "type"),
        "manifest" | "manifests" => t("联单", "manifest"),
        "number" => t("联单号", "manifest number"),
        "vehicle" | "plate" => t("车牌号", "plate"),
        "lines" => t("废物行", "lines"),
        "line" => t("行号", "line"),
        "quantity" => t("数量", "quantity"),
        "amount" => t("数值", "amount"),
        "unit" => t("单位", "unit"),
        "code" => t("代码", "code"),
        "codes" => t("废物代码", "codes"),
        "cw_type" => t("建筑垃圾类别", "construction-waste type"),
        "cw_types" => t("建筑垃圾类别", "construction-waste types"),
        "categories" => t("废物类别", "categories"),
        "containers" => t("容器", "containers"),
        "id" => t("编号", "id"),
        "packaging" => t("包装", "packaging"),
        "name" => t("名称", "name"),
        "form" => t("形态", "form"),
        "hazards" => t("危险特性", "hazards"),
        "components" => t("主要成分", "components"),
        "hazardous_components" => t("有害成分", "hazardous components"),
        "precautions" => t("注意事项", "precautions"),
        "destination" => t("目的地", "destination"),
        "origin" => t("起运地", "origin"),
        "haulers" => t("运输单位", "haulers"),
        "generator" => t("产生单位", "generator"),
        "from" => t("交出单位", "from"),
        "to" => t("接收单位", "to"),
        "driver" | "driver_id" => t("司机", "driver"),
        "driver_name" => t("司机姓名", "driver's name"),
        "escort" => t("押运员", "escort"),
        "reference" => t("参考号", "reference"),
        "stream" => t("废物种类", "stream"),
        "reason" => t("原因", "reason"),
        "gross" => t("毛重", "gross weight"),
        "tare" => t("皮重", "tare"),
        "net" => t("净重", "net weight"),
        "ticket" => t("磅单号", "weighbridge ticket"),
        "site" => t("场所", "site"),
        "station" => t("转运站", "station"),
        "accepted" => t("接收量", "accepted"),
        "rejected" => t("拒收量", "rejected"),
        "rejection" => t("拒收", "rejection"),
        "discrepancy" => t("差异", "discrepancy"),
        "input" | "inputs" => t("转入联单", "input manifests"),
        "output" | "outputs" => t("转出联单", "output manifests"),
        "kind" => t("种类", "kind"),
        "licence" => t("许可证号", "licence"),
        "permits" => t("车辆许可", "permits"),
        "valid_from" => t("有效期起", "valid from"),
        "valid_until" => t("有效期至", "valid until"),
        "annual_capacity" => t("年处理能力", "annual capacity"),
        "approval" => t("核准文号", "approval"),
        "party" => t("单位", "party"),
        "role" | "roles" => t("角色", "role"),
        "phone" => t("联系电话", "phone"),
        "person" => t("人员", "person"),
        "inspector" => t("检查人员", "inspector"),
        "findings" => t("检查情况", "findings"),
        "verdict" => t("结论", "verdict"),
        "location" => t("位置", "location"),
        "lat_e6" => t("纬度", "latitude"),
        "lon_e6" => t("经度", "longitude"),
        "points" => t("轨迹点", "track points"),
        "place" => t("地点", "place"),
        "at" => t("时间", "time"),
        "by" => t("经办单位", "by"),
        "case" => t("案件编号", "case"),
        "query" => t("查询条件", "query"),
        "geofence" => t("电子围栏", "geofence"),
        "effective" => t("生效时间", "effective from"),
        "version" => t("版本", "version"),
        "token" => t("二维码", "code"),
        "payload" => t("扫码内容", "scanned text"),
        "signatures" => t("签名", "signatures"),
        "sig" => t("签名值", "signature"),
        "key" => t("密钥", "key"),
        "holder" => t("持有单位", "holder"),
        "index" => t("日志序号", "log index"),
        "end" => t("截止序号", "end"),
        "hash" => t("哈希值", "hash"),
        "size" => t("日志大小", "log size"),
        "root" => t("根哈希", "root hash"),
        "quorum" => t("见证数", "quorum"),
        "Authorization" | "authorization" => t("签名凭证", "signature header"),
        "Content-Type" | "content-type" => t("内容类型", "content type"),
        "(body)" => t("提交的内容", "request body"),
        _ => return None,
    })
}

/// The `n`th (1-based) element of a list field, as people count: 第1行, 第2个容器.
fn nth(lang: Lang, name: &str, n: usize) -> String {
    match (lang, name) {
        (Lang::Zh, "lines") => format!("第{n}行"),
        (Lang::En, "lines") => format!("line {n}"),
        (Lang::Zh, "containers") => format!("第{n}个容器"),
        (Lang::En, "containers") => format!("container {n}"),
        (Lang::Zh, "signatures") => format!("第{n}个签名"),
        (Lang::En, "signatures") => format!("signature {n}"),
        (Lang::Zh, "points") => format!("第{n}个轨迹点"),
        (Lang::En, "points") => format!("track point {n}"),
        (Lang::Zh, _) => format!("{}第{n}项", words_of(lang, name)),
        (Lang::En, _) => format!("{} {n}", words_of(lang, name)),
    }
}

fn words_of(lang: Lang, name: &str) -> String {
    field_name(name)
        .map(|x| x.get(lang).to_string())
        .unwrap_or_else(|| name.to_string())
}

/// A field path as words (`event.lines[0].quantity` → 第1行 数量 / line 1 quantity): the
/// signed event's own `event.` prefix is dropped, list positions are counted from 1.
pub fn field_words(lang: Lang, path: &str) -> String {
    let trimmed = path.strip_prefix("event.").unwrap_or(path);
    let mut out: Vec<String> = Vec::new();
    for seg in trimmed.split('.').filter(|s| !s.is_empty()) {
        let (name, rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        let indices: Vec<usize> = rest
            .split(['[', ']'])
            .filter_map(|i| i.parse::<usize>().ok())
            .collect();
        match indices.first() {
            Some(i) => {
                out.push(nth(lang, name, i + 1));
                for j in &indices[1..] {
                    out.push(match lang {
                        Lang::Zh => format!("第{}项", j + 1),
                        Lang::En => format!("item {}", j + 1),
                    });
                }
            }
            None => out.push(words_of(lang, name)),
        }
    }
    if out.is_empty() {
        return words_of(lang, path);
    }
    out.join(" ")
}

/// A problem (RFC 9457 JSON) as a page shows it next to the field: the field's path (to find
/// the input) and a sentence. In Chinese, `{field}：{what is wrong}` from the problem's type;
/// in English, the server's own `detail`.
pub fn problem_message(lang: Lang, problem: &Value) -> (Option<String>, String) {
    let field = problem["field"]
        .as_str()
        .filter(|f| !f.is_empty())
        .map(str::to_string);
    let kind = problem["type"].as_str().and_then(ProblemKind::of_type);
    let sentence = match lang {
        Lang::En => problem["detail"]
            .as_str()
            .filter(|d| !d.is_empty())
            .or(problem["title"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| {
                kind.map(|k| k.text().en.to_string())
                    .unwrap_or_else(|| "The server refused the request".into())
            }),
        Lang::Zh => {
            let what = match kind {
                Some(k) => k.text().zh.to_string(),
                None => match problem["status"].as_u64() {
                    Some(s) => format!("服务器未接受此请求（{s}）"),
                    None => "服务器未接受此请求".to_string(),
                },
            };
            match &field {
                Some(f) => format!("{}：{what}", field_words(Lang::Zh, f)),
                None => what,
            }
        }
    };
    (field, sentence)
}

fn table<T: Copy>(
    items: &[T],
    key: impl Fn(T) -> String,
    text: impl Fn(T) -> Text,
    lang: Lang,
) -> Value {
    let mut m = Map::new();
    for &i in items {
        m.insert(key(i), json!(text(i).get(lang)));
    }
    Value::Object(m)
}

/// The wire text of a serde-serialised enum value.
fn wire<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The tables as one JSON object for browser code, keyed by wire text:
/// `{"lang", "status", "flag", "event", "verdict", "problem", "field", "role", "stream",
/// "cw_type", "hazard", "form", "unit", "discrepancy", "rd", "nth"}`. `nth` holds the
/// templates of a list position (`{"lines": "第{n}行", "*": "{name}第{n}项"}`).
pub fn js_table(lang: Lang) -> String {
    let key = |k: &'static str| k.to_string();
    let rd_codes: Vec<RdCode> = RdCode::all().collect();
    let nth_tpl = |name: &str| nth(lang, name, 0).replace('0', "{n}");
    let mut nth_all = Map::new();
    for name in ["lines", "containers", "signatures", "points"] {
        nth_all.insert(name.to_string(), json!(nth_tpl(name)));
    }
    let any = match lang {
        Lang::Zh => "{name}第{n}项",
        Lang::En => "{name} {n}",
    };
    nth_all.insert("*".to_string(), json!(any));
    let mut v = Map::new();
    v.insert("lang".into(), json!(lang.tag()));
    let tables: [(&str, Value); 16] = [
        (
            "status",
            table(&STATUSES, |s| key(s.as_str()), status, lang),
        ),
        ("flag", table(&FLAG_KINDS, wire, flag, lang)),
        (
            "event",
            table(EventType::ALL, |e| key(e.key()), EventType::text, lang),
        ),
        (
            "verdict",
            table(ScanVerdict::ALL, |e| key(e.key()), ScanVerdict::text, lang),
        ),
        (
            "advice",
            table(
                ScanVerdict::ALL,
                |e| key(e.key()),
                ScanVerdict::advice,
                lang,
            ),
        ),
        (
            "problem",
            table(ProblemKind::ALL, |e| key(e.key()), ProblemKind::text, lang),
        ),
        (
            "field",
            table(
                FIELD_NAMES,
                |f| f.to_string(),
                |f| field_name(f).unwrap_or(t("", "")),
                lang,
            ),
        ),
        ("role", table(&ROLES, wire, role, lang)),
        (
            "stream",
            table(
                &[Stream::Hazardous, Stream::Construction],
                |s| key(s.as_str()),
                stream,
                lang,
            ),
        ),
        (
            "cw_type",
            table(&CwType::ALL, |c| key(c.as_str()), cw_type, lang),
        ),
        (
            "hazard",
            table(&Hazard::ALL, |h| key(h.as_str()), hazard, lang),
        ),
        ("form", table(&FORMS, wire, form, lang)),
        (
            "unit",
            table(&[Unit::G, Unit::Ml], |u| key(u.as_str()), unit, lang),
        ),
        (
            "discrepancy",
            table(
                &[
                    Discrepancy::Quantity,
                    Discrepancy::Type,
                    Discrepancy::Residue,
                ],
                wire,
                discrepancy,
                lang,
            ),
        ),
        ("rd", table(&rd_codes[..], |c| c.to_string(), rd, lang)),
        ("nth", Value::Object(nth_all)),
    ];
    for (name, t) in tables {
        v.insert(name.to_string(), t);
    }
    Value::Object(v).to_string()
}

/// Every field name [`field_name`] knows (the tables' keys for browser code).
pub const FIELD_NAMES: &[&str] = &[
    "event",
    "type",
    "manifest",
    "manifests",
    "number",
    "vehicle",
    "plate",
    "lines",
    "line",
    "quantity",
    "amount",
    "unit",
    "code",
    "codes",
    "cw_type",
    "cw_types",
    "categories",
    "containers",
    "id",
    "packaging",
    "name",
    "form",
    "hazards",
    "components",
    "hazardous_components",
    "precautions",
    "destination",
    "origin",
    "haulers",
    "generator",
    "from",
    "to",
    "driver",
    "driver_id",
    "driver_name",
    "escort",
    "reference",
    "stream",
    "reason",
    "gross",
    "tare",
    "net",
    "ticket",
    "site",
    "station",
    "accepted",
    "rejected",
    "rejection",
    "discrepancy",
    "input",
    "inputs",
    "output",
    "outputs",
    "kind",
    "licence",
    "permits",
    "valid_from",
    "valid_until",
    "annual_capacity",
    "approval",
    "party",
    "role",
    "roles",
    "phone",
    "person",
    "inspector",
    "findings",
    "verdict",
    "location",
    "lat_e6",
    "lon_e6",
    "points",
    "place",
    "at",
    "by",
    "case",
    "query",
    "geofence",
    "effective",
    "version",
    "token",
    "payload",
    "signatures",
    "sig",
    "key",
    "holder",
    "index",
    "end",
    "hash",
    "size",
    "root",
    "quorum",
    "Authorization",
    "Content-Type",
    "(body)",
];

/// An anomaly's kind in words (the detectors of `investigate::detectors`).
pub fn anomaly_kind(k: crate::investigate::detectors::AnomalyKind) -> Text {
    use crate::investigate::detectors::AnomalyKind as K;
    match k {
        K::Overdue => t("运输超时", "overdue"),
        K::ReceiptUnconfirmed => t("接收未确认", "receipt not confirmed"),
        K::QuantityGap => t("数量差异", "quantity gap"),
        K::NotLicensed => t("接收方无许可", "receiver not licensed"),
        K::LicenceExpired => t("许可证失效", "licence expired"),
        K::NoPermit => t("车辆无运输许可", "vehicle without permit"),
        K::CapacityExceeded => t("超出年经营规模", "annual capacity exceeded"),
        K::VehicleTwoPlaces => t("同一车辆同时在两地", "vehicle at two places"),
        K::TooFast => t("车速异常", "moved too fast"),
        K::DwellOutsideSites => t("场外停留", "stood outside every site"),
        K::StationImbalance => t("中转站进出不平", "transfer station imbalance"),
        K::SiteBalance => t("工地出土量不平", "construction site imbalance"),
        K::WrongVehicle => t("车辆不符", "wrong vehicle"),
    }
}

/// An anomaly's reason as a sentence, with `{m}` (its manifests), `{v}` (vehicles), `{s}`
/// (sites) and `{p}` (parties) for a page's script to fill in; the detector's own sentence,
/// with the numbers, is shown beside it in English.
pub fn anomaly_reason(k: crate::investigate::detectors::AnomalyKind) -> Text {
    use crate::investigate::detectors::AnomalyKind as K;
    match k {
        K::Overdue => t("联单{m}超过运输时限仍未送达", "manifest {m} is past its time in transit and not delivered"),
        K::ReceiptUnconfirmed => t("联单{m}已送达，接收单位未在规定工作日内确认接收", "manifest {m} was delivered; the receiver has not confirmed receipt in time"),
        K::QuantityGap => t("联单{m}前后环节数量差异超过允许范围", "manifest {m}: quantities between steps differ beyond the tolerance"),
        K::NotLicensed => t("联单{m}交给了没有相应经营许可的接收单位（单位见下方说明）", "manifest {m} was handed to a party without the licence for it (named below)"),
        K::LicenceExpired => t("联单{m}交接时接收单位的许可证已失效", "manifest {m}: the taker's licence had lapsed at the hand-over"),
        K::NoPermit => t("车辆{v}没有相应的运输许可（联单{m}）", "vehicle {v} has no permit for the load (manifest {m})"),
        K::CapacityExceeded => t("{p}本年接收量超过许可证核准的年经营规模", "{p} took in more this year than its licence's annual capacity"),
        K::VehicleTwoPlaces => t("车辆{v}同一时段出现在相距很远的两处，疑似套牌（联单{m}）", "vehicle {v} held loads at two far-apart places at once: a cloned plate? (manifest {m})"),
        K::TooFast => t("车辆{v}两次定位之间的速度超过货车可能的速度（联单{m}）", "vehicle {v} moved faster than a truck can between two positions (manifest {m})"),
        K::DwellOutsideSites => t("车辆{v}载有联单{m}在登记场所之外长时间停留，需核查是否倾倒", "vehicle {v}, loaded with manifest {m}, stood long outside every registered site: check for dumping"),
        K::StationImbalance => t("中转站{p}进站量与出站量、库存不符", "transfer station {p}: what it took in does not match what it sent on and holds"),
        K::SiteBalance => t("工地{s}运出量与消纳场接收量不符，或有车辆未到达", "construction site {s}: loads out do not match what receiving sites took in, or loads never arrived"),
        K::WrongVehicle => t("联单{m}由非登记车辆{v}运输", "manifest {m} is carried by a vehicle it does not name ({v})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::DomainEvent;

    fn has_han(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    /// Both languages present, the Chinese in Chinese and not the raw key.
    fn check(key: &str, x: Text) {
        assert!(!x.zh.is_empty() && !x.en.is_empty(), "{key}: {x:?}");
        assert!(
            has_han(x.zh),
            "{key}: the Chinese {:?} has no Chinese",
            x.zh
        );
        assert_ne!(x.zh, key, "{key}");
        assert!(
            !x.en.contains('_'),
            "{key}: the English {:?} is an identifier",
            x.en
        );
    }

    #[test]
    fn every_variant_has_both_languages_and_no_chinese_text_is_its_key() {
        for s in STATUSES {
            check(s.as_str(), status(s));
        }
        for f in FLAG_KINDS {
            check(&wire(f), flag(f));
        }
        for e in EventType::ALL {
            check(e.key(), e.text());
        }
        for v in ScanVerdict::ALL {
            check(v.key(), v.text());
            check(v.key(), v.advice());
        }
        for p in ProblemKind::ALL {
            check(p.key(), p.text());
        }
        for r in ROLES {
            check(&wire(r), role(r));
        }
        for r in [PersonRole::Driver, PersonRole::Escort] {
            check(&wire(r), person_role(r));
        }
        for s in [Stream::Hazardous, Stream::Construction] {
            check(s.as_str(), stream(s));
        }
        for c in CwType::ALL {
            check(c.as_str(), cw_type(c));
        }
        for h in Hazard::ALL {
            check(h.as_str(), hazard(h));
        }
        for f in FORMS {
            check(&wire(f), form(f));
        }
        for p in Packaging::ALL {
            check(&format!("{p:?}"), p.text());
        }
        for u in [Unit::G, Unit::Ml] {
            check(u.as_str(), unit(u));
        }
        for d in [
            Discrepancy::Quantity,
            Discrepancy::Type,
            Discrepancy::Residue,
        ] {
            check(&wire(d), discrepancy(d));
        }
        for v in [Verdict::Pass, Verdict::Violation] {
            check(&wire(v), inspection_verdict(v));
        }
        for k in [
            LicenceKind::HwOperating,
            LicenceKind::HwTransport,
            LicenceKind::CwDisposal,
            LicenceKind::CwTransport,
        ] {
            check(&wire(k), licence_kind(k));
        }
        for k in [PermitKind::HazardousGoods, PermitKind::Muck] {
            check(&wire(k), permit_kind(k));
        }
        for k in [
            SiteKind::Plant,
            SiteKind::ConstructionSite,
            SiteKind::Station,
            SiteKind::Disposal,
            SiteKind::Recycling,
            SiteKind::Landfill,
        ] {
            check(&wire(k), site_kind(k));
        }
        let codes: Vec<RdCode> = RdCode::all().collect();
        assert_eq!(codes.len(), 28);
        for c in codes {
            let x = rd(c);
            check(&c.to_string(), x);
            assert_ne!(
                x,
                t("利用处置", "recovery or disposal"),
                "{c} has no name of its own"
            );
        }
        for f in FIELD_NAMES {
            check(
                f,
                field_name(f).unwrap_or_else(|| panic!("{f} has no name")),
            );
        }
    }

    #[test]
    fn the_named_words_are_the_ones_people_use() {
        assert_eq!(
            EventType::parse("manifest.issued").unwrap().text().zh,
            "开具联单"
        );
        assert_eq!(
            EventType::parse("custody.handover").unwrap().text().zh,
            "交接"
        );
        assert_eq!(
            EventType::parse("key.delegated").unwrap().text().zh,
            "授权设备密钥"
        );
        assert_eq!(stream(Stream::Hazardous).zh, "危险废物");
        assert_eq!(stream(Stream::Construction).zh, "建筑垃圾");
        let cw: Vec<&str> = CwType::ALL.iter().map(|c| cw_type(*c).zh).collect();
        assert_eq!(
            cw,
            ["工程渣土", "工程泥浆", "工程垃圾", "拆除垃圾", "装修垃圾"]
        );
        let hz: Vec<&str> = Hazard::ALL.iter().map(|h| hazard(*h).zh).collect();
        assert_eq!(hz, ["毒性", "腐蚀性", "易燃性", "反应性", "感染性"]);
        assert_eq!(ScanVerdict::parse("valid").unwrap().text().zh, "有效");
        assert_eq!(ScanVerdict::Superseded.tone(), Tone::Warn);
        assert_eq!(ScanVerdict::Forged.tone(), Tone::Bad);
        assert_eq!(
            Packaging::of("200 L 钢桶 steel drum"),
            Some(Packaging::SteelDrum)
        );
        assert_eq!(Packaging::of("1 m³ IBC 吨桶"), Some(Packaging::Ibc));
        assert_eq!(Packaging::of("ton bag"), Some(Packaging::TonBag));
        assert_eq!(Packaging::of("20L plastic can"), Some(Packaging::Can));
        assert_eq!(Packaging::of("???"), None);
    }

    #[test]
    fn every_event_type_the_domain_knows_is_translated() {
        for ty in DomainEvent::TYPES {
            assert!(EventType::parse(ty).is_some(), "{ty} has no words");
        }
        for ty in ["log.genesis", "key.added", "key.revoked", "key.delegated"] {
            assert!(EventType::parse(ty).is_some(), "{ty} has no words");
        }
        // Keys and variants are one to one.
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.key()), Some(*e));
        }
    }

    #[test]
    fn field_paths_translate_with_lines_counted_from_one() {
        assert_eq!(field_words(Lang::Zh, "event.vehicle"), "车牌号");
        assert_eq!(
            field_words(Lang::Zh, "event.lines[0].quantity"),
            "第1行 数量"
        );
        assert_eq!(
            field_words(Lang::En, "event.lines[0].quantity"),
            "line 1 quantity"
        );
        assert_eq!(
            field_words(Lang::Zh, "event.lines[2].containers[0].id"),
            "第3行 第1个容器 编号"
        );
        assert_eq!(
            field_words(Lang::Zh, "signatures[1].sig"),
            "第2个签名 签名值"
        );
        assert_eq!(field_words(Lang::Zh, "event.haulers[0]"), "运输单位第1项");
        assert_eq!(field_words(Lang::Zh, "(body)"), "提交的内容");
        assert_eq!(field_words(Lang::Zh, "Authorization"), "签名凭证");
        // A name it does not know is shown as written rather than dropped.
        assert_eq!(field_words(Lang::Zh, "event.mystery"), "mystery");
    }

    #[test]
    fn a_problem_reads_in_chinese_next_to_its_field_and_in_english_as_the_server_said() {
        let p = json!({"type": "urn:wasteledger:problem:refused", "title": "Event refused",
                       "status": 422, "detail": "event.vehicle: 苏E0000 is not registered",
                       "field": "event.vehicle"});
        let (field, zh) = problem_message(Lang::Zh, &p);
        assert_eq!(field.as_deref(), Some("event.vehicle"));
        assert_eq!(zh, "车牌号：提交被拒绝：不符合规则");
        let (_, en) = problem_message(Lang::En, &p);
        assert_eq!(en, "event.vehicle: 苏E0000 is not registered");
        let p = json!({"type": "urn:wasteledger:problem:not-holder", "status": 409,
                       "detail": "x", "field": "event.lines[0].quantity"});
        assert_eq!(
            problem_message(Lang::Zh, &p).1,
            "第1行 数量：该单位当前未持有这批货物"
        );
        // A type this build does not know still reads as a refusal, in Chinese.
        let p = json!({"type": "urn:wasteledger:problem:new-thing", "status": 418, "detail": "x"});
        assert_eq!(
            problem_message(Lang::Zh, &p),
            (None, "服务器未接受此请求（418）".into())
        );
    }

    #[test]
    fn the_language_follows_the_tag_or_the_header_and_defaults_to_chinese() {
        assert_eq!(Lang::from_tag("zh-CN"), Lang::Zh);
        assert_eq!(Lang::from_tag("en"), Lang::En);
        assert_eq!(Lang::from_tag("en-GB"), Lang::En);
        assert_eq!(Lang::from_tag("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::En);
        assert_eq!(Lang::from_tag("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::from_tag("fr-FR,en;q=0.5"), Lang::En);
        assert_eq!(Lang::from_tag("de"), Lang::Zh);
        assert_eq!(Lang::from_tag(""), Lang::Zh);
        assert_eq!(Lang::from_tag("en;q=0"), Lang::Zh);
    }

    #[test]
    fn the_js_table_holds_the_same_words() {
        for lang in Lang::ALL {
            let v: Value = serde_json::from_str(&js_table(lang)).unwrap();
            assert_eq!(
                v["status"]["in_transit"],
                status(Status::InTransit).get(lang)
            );
            assert_eq!(
                v["flag"]["wrong_vehicle"],
                flag(FlagKind::WrongVehicle).get(lang)
            );
            assert_eq!(
                v["event"]["custody.handover"],
                EventType::Handover.text().get(lang)
            );
            assert_eq!(
                v["problem"]["not-holder"],
                ProblemKind::NotHolder.text().get(lang)
            );
            assert_eq!(
                v["field"]["vehicle"],
                field_name("vehicle").unwrap().get(lang)
            );
            assert_eq!(v["rd"]["R9"], rd(RdCode::parse("R9").unwrap()).get(lang));
            assert_eq!(v["status"].as_object().unwrap().len(), STATUSES.len());
            assert_eq!(
                v["problem"].as_object().unwrap().len(),
                ProblemKind::ALL.len()
            );
        }
        let zh: Value = serde_json::from_str(&js_table(Lang::Zh)).unwrap();
        assert_eq!(zh["nth"]["lines"], "第{n}行");
    }
}
