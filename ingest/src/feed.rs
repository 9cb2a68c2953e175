//! Reads API Engagement XML feeds as a stream of missions.
use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::encoding::DecodingReader;
use quick_xml::events::Event;

/// Why a feed could not be read. Any of these fails the whole import: nothing is changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FeedError {
    /// The body is not well-formed XML (or is cut short).
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    /// The feed declares entities (the "billion laughs" attack is made of them): refused, never expanded.
    #[error("the feed declares XML entities, which are refused")]
    EntityDeclaration,
    /// A reference to an entity that XML does not predefine.
    #[error("unknown XML entity &{0};")]
    UnknownEntity(String),
    /// The root element is not `<source>`.
    #[error("the root element is <{0}>, expected <source>")]
    UnexpectedRoot(String),
    /// The body ended before any root element: empty or not XML at all.
    #[error("the body holds no XML document")]
    NoDocument,
}

/// The most characters of the feed an error message quotes: a name or a message taken from the
/// feed is cut there, so that no feed writes kilobytes into logs and import runs.
pub const MAX_QUOTED_CHARS: usize = 120;

/// `text`, cut to [`MAX_QUOTED_CHARS`] characters with an ellipsis when longer.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((at, _)) => format!("{}… ({} characters)", &text[..at], text.chars().count()),
        None => text.to_owned(),
    }
}

/// One address of a mission, as the feed wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedAddress {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub department_code: Option<String>,
    pub department_name: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    /// "lon,lat" as partners name it, though some send "lat,lon".
    pub lonlat: Option<String>,
}

/// One `<mission>` of a feed: element names to their text, list elements to their values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedMission {
    /// Scalar elements in feed order (`clientId`, `title`, …), trimmed; the last one wins.
    pub fields: Vec<(String, String)>,
    /// Elements holding `<value>` children (`tags`, `audience`, `softSkills`, …).
    pub lists: Vec<(String, Vec<String>)>,
    /// The flat address of the mission, if any of its fields is present.
    pub flat_address: Option<FeedAddress>,
    /// The addresses under `<addresses><address>…`.
    pub addresses: Vec<FeedAddress>,
    /// What the reader cut to keep memory bounded: an element's text over
    /// [`MAX_TEXT_BYTES`], a list over [`MAX_LIST_VALUES`] values, more than
    /// [`MAX_FIELDS`] elements or [`MAX_ADDRESSES`] addresses. Such a mission is refused.
    pub truncated: Vec<String>,
}

/// The most bytes of one element's text kept (a description may hold 20,000 characters).
pub const MAX_TEXT_BYTES: usize = 128 * 1024;
/// The most values of one list kept.
pub const MAX_LIST_VALUES: usize = 100;
/// The most scalar elements of one mission kept.
pub const MAX_FIELDS: usize = 200;
/// The most addresses of one mission kept.
pub const MAX_ADDRESSES: usize = 50;

impl FeedMission {
    fn cut(&mut self, what: String) {
        if !self.truncated.contains(&what) && self.truncated.len() < 10 {
            self.truncated.push(what);
        }
    }
}

impl FeedMission {
    /// The text of the first of `names` present and not blank.
    pub fn get(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| {
            self.fields
                .iter()
                .rev()
                .find(|(k, v)| k == n && !v.trim().is_empty())
                .map(|(_, v)| v.as_str())
        })
    }

    /// The values of the first of `names` present (a scalar element counts as one value).
    pub fn list(&self, names: &[&str]) -> Vec<String> {
        for n in names {
            if let Some((_, values)) = self.lists.iter().find(|(k, _)| k == n) {
                return values.clone();
            }
            if let Some(v) = self.get(&[n]) {
                return v
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
        }
        Vec::new()
    }
}

/// The `<source>` header, when the feed has one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedHeader {
    pub publisher: Option<String>,
    pub publisher_url: Option<String>,
    pub last_build_date: Option<String>,
}

/// A streaming reader of a feed: call [`FeedReader::next_mission`] until it returns `None`.
pub struct FeedReader<R: BufRead> {
    /// The input is transcoded to UTF-8 from the encoding its declaration names; bytes that are
    /// not of that encoding become U+FFFD, which the rules report as BROKEN_ENCODING.
    reader: Reader<DecodingReader<R>>,
    buf: Vec<u8>,
    started: bool,
    finished: bool,
    /// The header elements read so far (before, between or after missions).
    pub header: FeedHeader,
}

/// Where the reader stands inside a mission.
enum Slot {
    None,
    Field(String),
    List(String),
    ListValue(String),
    Address(String),
}

fn address_field(a: &mut FeedAddress, name: &str, value: String) -> bool {
    let slot = match name {
        "address" | "adresse" | "street" => &mut a.street,
        "postalCode" => &mut a.postal_code,
        "city" => &mut a.city,
        "departmentCode" => &mut a.department_code,
        "departmentName" => &mut a.department_name,
        "region" => &mut a.region,
        "country" | "countryCode" => &mut a.country,
        "lonlat" | "lonLat" | "location" => &mut a.lonlat,
        _ => return false,
    };
    *slot = Some(value);
    true
}

/// Elements whose content is a list of `<value>` children.
const LIST_FIELDS: &[&str] = &[
    "tags",
    "audience",
    "softSkills",
    "soft_skills",
    "requirements",
    "activity",
    "activities",
    "organizationReseaux",
];

impl<R: BufRead> FeedReader<R> {
    pub fn new(input: R) -> Self {
        let mut reader = Reader::from_reader(DecodingReader::new(input));
        reader.config_mut().trim_text(false);
        FeedReader {
            reader,
            buf: Vec::with_capacity(8 * 1024),
            started: false,
            finished: false,
            header: FeedHeader::default(),
        }
    }

    fn malformed(&self, message: impl Into<String>) -> FeedError {
        FeedError::Malformed {
            position: self.reader.buffer_position(),
            message: clip(&message.into()),
        }
    }

    /// The next mission, `None` at the end of the feed.
    ///
    /// # Errors
    /// [`FeedError`]: the feed cannot be trusted as a whole.
    pub fn next_mission(&mut self) -> Result<Option<FeedMission>, FeedError> {
        if self.finished {
            return Ok(None);
        }
        let mut mission: Option<FeedMission> = None;
        let mut address: Option<FeedAddress> = None;
        let mut slot = Slot::None;
        let mut text = String::new();
        // The current element's text went over MAX_TEXT_BYTES.
        let mut overflow = false;
        let mut header_field: Option<String> = None;
        let mut depth_in_mission = 0usize;
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(e) => e.into_owned(),
                Err(e) => return Err(self.malformed(e.to_string())),
            };
            match event {
                Event::DocType(d) => {
                    if d.into_inner().contains("<!ENTITY") {
                        return Err(FeedError::EntityDeclaration);
                    }
                }
                Event::Start(e) => {
                    let name = e.local_name().as_ref().to_owned();
                    text.clear();
                    overflow = false;
                    if !self.started {
                        if name != "source" {
                            return Err(FeedError::UnexpectedRoot(clip(&name)));
                        }
                        self.started = true;
                        continue;
                    }
                    match (&mut mission, name.as_str()) {
                        (None, "mission") => {
                            mission = Some(FeedMission::default());
                            depth_in_mission = 0;
                        }
                        (None, _) => header_field = Some(name),
                        (Some(_), _) => {
                            depth_in_mission += 1;
                            slot = match (&slot, name.as_str()) {
                                (_, "addresses") => Slot::None,
                                (_, "address") if depth_in_mission == 2 => {
                                    address = Some(FeedAddress::default());
                                    Slot::None
                                }
                                (Slot::List(list), "value") => Slot::ListValue(list.clone()),
                                (_, n) if address.is_some() => Slot::Address(n.to_owned()),
                                (_, n) if LIST_FIELDS.contains(&n) => Slot::List(n.to_owned()),
                                (_, n) => Slot::Field(n.to_owned()),
                            };
                        }
                    }
                }
                Event::Empty(e) if !self.started => {
                    // `<source/>`: a feed with no mission.
                    let name = e.local_name().as_ref().to_owned();
                    if name != "source" {
                        return Err(FeedError::UnexpectedRoot(clip(&name)));
                    }
                    self.started = true;
                    self.finished = true;
                    return Ok(None);
                }
                Event::Empty(_) => {}
                Event::Text(t) => {
                    let t = t.xml10_content();
                    if text.len() + t.len() <= MAX_TEXT_BYTES {
                        text.push_str(&t);
                    } else {
                        overflow = true;
                    }
                }
                Event::CData(c) => {
                    let c = c.into_inner();
                    if text.len() + c.len() <= MAX_TEXT_BYTES {
                        text.push_str(&c);
                    } else {
                        overflow = true;
                    }
                }
                Event::GeneralRef(r) => match r.resolve_char_ref() {
                    Ok(Some(c)) => text.push(c),
                    Ok(None) => {
                        let name = r.into_inner().into_owned();
                        text.push(match name.as_str() {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            _ => return Err(FeedError::UnknownEntity(clip(&name))),
                        });
                    }
                    Err(e) => return Err(self.malformed(e.to_string())),
                },
                Event::End(e) => {
                    let name = e.local_name().as_ref().to_owned();
                    let value = text.trim().to_owned();
                    text.clear();
                    let over = std::mem::take(&mut overflow);
                    let Some(m) = mission.as_mut() else {
                        if name == "source" {
                            self.finished = true;
                            return Ok(None);
                        }
                        if header_field.as_deref() == Some(name.as_str()) {
                            match name.as_str() {
                                "publisher" => self.header.publisher = Some(value),
                                "publisherurl" | "publisherUrl" => {
                                    self.header.publisher_url = Some(value)
                                }
                                "lastBuildDate" => self.header.last_build_date = Some(value),
                                _ => {}
                            }
                        }
                        header_field = None;
                        continue;
                    };
                    if name == "mission" && depth_in_mission == 0 {
                        return Ok(mission);
                    }
                    depth_in_mission = depth_in_mission.saturating_sub(1);
                    if over {
                        m.cut(format!("{} (over {MAX_TEXT_BYTES} bytes)", clip(&name)));
                    }
                    match std::mem::replace(&mut slot, Slot::None) {
                        Slot::ListValue(list) => {
                            if !value.is_empty() {
                                match m.lists.iter_mut().find(|(k, _)| *k == list) {
                                    Some((_, values)) if values.len() >= MAX_LIST_VALUES => {
                                        m.cut(format!("{list} (over {MAX_LIST_VALUES} values)"));
                                    }
                                    Some((_, values)) => values.push(value),
                                    None => m.lists.push((list.clone(), vec![value])),
                                }
                            }
                            slot = Slot::List(list);
                        }
                        Slot::List(list) => {
                            if !m.lists.iter().any(|(k, _)| *k == list) {
                                // A list element with plain text instead of <value> children.
                                if m.fields.len() < MAX_FIELDS {
                                    m.fields.push((list, value));
                                } else {
                                    m.cut(format!("elements (over {MAX_FIELDS})"));
                                }
                            }
                        }
                        Slot::Address(field) => {
                            if let Some(a) = address.as_mut() {
                                address_field(a, &field, value);
                            }
                        }
                        Slot::Field(field) => {
                            let flat = m.flat_address.get_or_insert_with(FeedAddress::default);
                            if !address_field(flat, &field, value.clone()) {
                                if m.fields.len() < MAX_FIELDS {
                                    m.fields.push((field, value));
                                } else {
                                    m.cut(format!("elements (over {MAX_FIELDS})"));
                                }
                            }
                        }
                        Slot::None => {
                            if name == "address"
                                && let Some(a) = address.take()
                            {
                                if m.addresses.len() < MAX_ADDRESSES {
                                    m.addresses.push(a);
                                } else {
                                    m.cut(format!("addresses (over {MAX_ADDRESSES})"));
                                }
                            }
                        }
                    }
                }
                Event::Eof => {
                    return Err(if !self.started {
                        FeedError::NoDocument
                    } else {
                        self.malformed("the feed ends before </source>")
                    });
                }
                Event::Decl(d) => {
                    if let Some(Ok(name)) = d.encoding() {
                        let name = clip(&name);
                        let Some(declared) = d.encoder() else {
                            return Err(self.malformed(format!("unsupported encoding {name:?}")));
                        };
                        let current = self.reader.get_ref().encoding();
                        let utf16 = |e: &'static encoding_rs::Encoding| {
                            e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE
                        };
                        if utf16(current) {
                            // A byte order mark chose UTF-16, and the bytes are read as such;
                            // a declaration of another encoding cannot be true.
                            if !utf16(declared) {
                                return Err(self.malformed(format!(
                                    "the feed starts with a UTF-16 byte order mark but declares {name:?}"
                                )));
                            }
                        } else if declared != current {
                            let switched =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    self.reader.get_mut().set_encoding(declared)
                                }));
                            if switched.is_err() {
                                return Err(self.malformed(format!(
                                    "the declaration of {name:?} comes too late to be applied"
                                )));
                            }
                        }
                    }
                }
                Event::PI(_) | Event::Comment(_) => {}
            }
        }
    }
}
