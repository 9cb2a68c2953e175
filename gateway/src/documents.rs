//! Persisted documents: operations a client sends by id instead of by text.
//!
//! - **Trusted documents** come from a manifest, loaded at start from `persisted_documents_file`:
//!   the Apollo persisted query manifest (`{"format": "apollo-persisted-query-manifest",
//!   "version": 1, "operations": [{"id", "name", "type", "body"}]}`), or the flat map of id to
//!   document that Relay and GraphQL Code Generator's client preset write. Clients send
//!   `documentId` (or Relay's `doc_id`, with or without a `sha256:` prefix), or Apollo's
//!   `extensions.persistedQuery.sha256Hash`.
//! - **Automatic persisted queries** (Apollo's protocol, over GET and POST): a client sends the
//!   hash alone; on `PERSISTED_QUERY_NOT_FOUND` it sends the hash and the text, which is checked
//!   against the hash and kept in a bounded cache.
//! - **Modes**: `off`; `allowed` (ids and arbitrary documents); `required`: callers who may not
//!   explore (anonymous, partners, and people signed in but analysts and admins) run manifest
//!   documents only, by id or by their exact text.
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// Whether documents must come from the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PersistedMode {
    /// No manifest: documents are sent as text (automatic persisted queries still work).
    #[default]
    Off,
    /// Manifest ids and arbitrary documents alike.
    Allowed,
    /// Manifest documents only, but for analysts and admins (who explore in GraphiQL).
    Required,
}

/// The lowercase hexadecimal SHA-256 of a text: the id Apollo's and GraphQL Code Generator's
/// manifests give a document, and the hash of automatic persisted queries.
pub fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// An id as clients send it, without the `sha256:` prefix of the GraphQL-over-HTTP proposal.
fn normalise_id(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix("sha256:").unwrap_or(id)
}

fn is_sha256_hex(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One operation of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestOperation {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub body: String,
}

/// The Apollo persisted query manifest, as Passerelle writes it.
#[derive(Debug, Serialize, Deserialize)]
struct ApolloManifest {
    format: String,
    version: u32,
    operations: Vec<ManifestOperation>,
}

const APOLLO_FORMAT: &str = "apollo-persisted-query-manifest";

/// Checks every document of a manifest against the schema and the limits; returns one line
/// per problem (none: the manifest is good).
///
/// # Errors
/// The manifest cannot be read or parsed.
pub async fn check(
    path: &Path,
    limits: passerelle_schema::Limits,
) -> anyhow::Result<(usize, Vec<String>)> {
    let manifest = Manifest::load(path)?;
    let schema = passerelle_schema::build(sea_orm::DatabaseConnection::default(), limits);
    let mut problems = Vec::new();
    for op in manifest.operations() {
        let label = match &op.name {
            Some(name) => format!("{} ({name})", op.id),
            None => op.id.clone(),
        };
        if let Some(problem) = manifest.id_problem(op) {
            problems.push(format!("{label}: {problem}"));
        }
        for e in passerelle_schema::check_document(&schema, &op.body).await {
            let at = e
                .locations
                .first()
                .map(|l| format!(" (line {}, column {})", l.line, l.column))
                .unwrap_or_default();
            problems.push(format!("{label}: {}{at}", e.message));
        }
    }
    Ok((manifest.operations().len(), problems))
}

/// A manifest of trusted documents.
#[derive(Debug, Default)]
pub struct Manifest {
    operations: Vec<ManifestOperation>,
    by_id: HashMap<String, Arc<str>>,
    /// The SHA-256 of every body: a document sent as text is trusted when it is one of them.
    body_hashes: HashSet<String>,
    /// Whether ids are, by the format, the SHA-256 of their body.
    ids_are_hashes: bool,
}

impl Manifest {
    /// Reads a manifest file in either format.
    ///
    /// # Errors
    /// The file cannot be read, is not JSON, is in neither format, or holds an empty document
    /// or an id given twice with two bodies.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?;
        Manifest::parse(&text).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses a manifest: Apollo's format, or a flat JSON object of id to document.
    ///
    /// # Errors
    /// As [`Manifest::load`].
    pub fn parse(text: &str) -> anyhow::Result<Manifest> {
        let json: Json = serde_json::from_str(text).context("not JSON")?;
        let Json::Object(map) = json else {
            bail!("a manifest is a JSON object");
        };
        let (operations, ids_are_hashes) = if map.get("format").is_some() {
            let apollo: ApolloManifest = serde_json::from_value(Json::Object(map))
                .context("not an Apollo persisted query manifest")?;
            if apollo.format != APOLLO_FORMAT || apollo.version != 1 {
                bail!(
                    "unknown manifest format {:?} version {} (expected {APOLLO_FORMAT:?} version 1)",
                    apollo.format,
                    apollo.version
                );
            }
            (apollo.operations, true)
        } else {
            let mut operations = Vec::with_capacity(map.len());
            for (id, body) in map {
                let Json::String(body) = body else {
                    bail!(
                        "{id:?}: expected a document string (a manifest is {{\"id\": \"document\", …}} or Apollo's format)"
                    );
                };
                operations.push(ManifestOperation {
                    id,
                    name: None,
                    kind: None,
                    body,
                });
            }
            (operations, false)
        };
        if ids_are_hashes {
            // Apollo's ids are the documents' SHA-256: a wrong one could never be found.
            for op in &operations {
                let hash = sha256_hex(&op.body);
                if !normalise_id(&op.id).eq_ignore_ascii_case(&hash) {
                    bail!(
                        "{}: the id is not the SHA-256 of the document ({hash})",
                        op.id
                    );
                }
            }
        }
        let mut by_id: HashMap<String, Arc<str>> = HashMap::with_capacity(operations.len());
        let mut body_hashes = HashSet::with_capacity(operations.len());
        for op in &operations {
            let id = normalise_id(&op.id);
            if id.is_empty() {
                bail!("an operation has an empty id");
            }
            if op.body.trim().is_empty() {
                bail!("{id}: the document is empty");
            }
            let key = if is_sha256_hex(id) {
                id.to_ascii_lowercase()
            } else {
                id.to_owned()
            };
            match by_id.get(&key) {
                Some(body) if **body != *op.body => bail!("{id}: two different documents"),
                Some(_) => {}
                None => {
                    by_id.insert(key, Arc::from(op.body.as_str()));
                }
            }
            body_hashes.insert(sha256_hex(&op.body));
        }
        Ok(Manifest {
            operations,
            by_id,
            body_hashes,
            ids_are_hashes,
        })
    }

    /// Writes the Apollo manifest of `.graphql` files, one operation each, sorted by file name;
    /// a document's id is the SHA-256 of its text, exactly as the file holds it.
    ///
    /// # Errors
    /// The directory or a file cannot be read, or a file holds no operation or several.
    pub fn from_directory(dir: &Path) -> anyhow::Result<String> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the directory {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("graphql") {
                files.push(path);
            }
        }
        if files.is_empty() {
            bail!("{} holds no .graphql file", dir.display());
        }
        files.sort();
        let mut operations = Vec::with_capacity(files.len());
        for path in files {
            let body = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let doc = async_graphql::parser::parse_query(&body)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let mut ops = doc.operations.iter();
            let (Some((name, op)), None) = (ops.next(), ops.next()) else {
                bail!(
                    "{}: a manifest file holds exactly one operation",
                    path.display()
                );
            };
            operations.push(ManifestOperation {
                id: sha256_hex(&body),
                name: name.map(|n| n.to_string()),
                kind: Some(op.node.ty.to_string()),
                body,
            });
        }
        let manifest = ApolloManifest {
            format: APOLLO_FORMAT.to_owned(),
            version: 1,
            operations,
        };
        Ok(serde_json::to_string_pretty(&manifest)? + "\n")
    }

    /// The manifest's operations, in file order.
    pub fn operations(&self) -> &[ManifestOperation] {
        &self.operations
    }

    /// Whether ids must be the SHA-256 of their body (Apollo's format), or may be anything
    /// (Relay's md5, a build number…), except that an id that looks like a SHA-256 must be one.
    pub fn id_problem(&self, op: &ManifestOperation) -> Option<String> {
        let id = normalise_id(&op.id);
        let hash = sha256_hex(&op.body);
        let must_match = self.ids_are_hashes || is_sha256_hex(id);
        (must_match && !id.eq_ignore_ascii_case(&hash))
            .then(|| format!("the id is not the SHA-256 of the document ({hash})"))
    }

    fn get(&self, id: &str) -> Option<Arc<str>> {
        let id = normalise_id(id);
        if is_sha256_hex(id) {
            self.by_id.get(&id.to_ascii_lowercase()).cloned()
        } else {
            self.by_id.get(id).cloned()
        }
    }

    fn trusts(&self, hash: &str) -> bool {
        self.body_hashes.contains(hash)
    }

    /// How many documents it holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Documents registered by automatic persisted queries: at most `capacity`, the oldest dropped
/// first. Each is at most `max_document_bytes`, so the cache is bounded in bytes too.
#[derive(Debug)]
struct ApqCache {
    capacity: usize,
    entries: Mutex<ApqEntries>,
}

/// The documents by hash, and their hashes oldest first.
#[derive(Debug, Default)]
struct ApqEntries {
    by_hash: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
}

impl ApqCache {
    fn get(&self, hash: &str) -> Option<Arc<str>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.by_hash.get(hash).cloned()
    }

    fn insert(&self, hash: String, document: Arc<str>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.by_hash.contains_key(&hash) {
            return;
        }
        while entries.by_hash.len() >= self.capacity {
            match entries.order.pop_front() {
                Some(oldest) => {
                    entries.by_hash.remove(&oldest);
                }
                None => break,
            }
        }
        entries.order.push_back(hash.clone());
        entries.by_hash.insert(hash, document);
    }
}

/// What a request names its document by.
#[derive(Debug, Default)]
pub struct DocumentRef {
    /// The text, when sent.
    pub query: Option<String>,
    /// `documentId` or `doc_id`.
    pub document_id: Option<String>,
    /// `extensions.persistedQuery`, when sent.
    pub persisted_query: Option<Json>,
}

/// Why a request's document cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentError {
    /// The request names no document at all, or in two ways.
    BadRequest(String),
    /// An id or a hash that neither the manifest nor the cache holds.
    NotFound,
    /// A hash alone while automatic persisted queries are off and there is no manifest.
    NotSupported,
    /// A text whose SHA-256 is not the hash sent with it.
    HashMismatch,
    /// Required mode: a document outside the manifest from a caller who may not explore.
    NotInList,
}

impl DocumentError {
    /// The `extensions.code` of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            DocumentError::BadRequest(_) => "BAD_REQUEST",
            DocumentError::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            DocumentError::NotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            DocumentError::HashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            DocumentError::NotInList => "PERSISTED_QUERY_NOT_IN_LIST",
        }
    }

    /// The message. `PersistedQueryNotFound` and `PersistedQueryNotSupported` are the words
    /// Apollo's clients look for.
    pub fn message(&self) -> String {
        match self {
            DocumentError::BadRequest(m) => m.clone(),
            DocumentError::NotFound => "PersistedQueryNotFound".to_owned(),
            DocumentError::NotSupported => "PersistedQueryNotSupported".to_owned(),
            DocumentError::HashMismatch => {
                "provided sha256Hash does not match the query's SHA-256".to_owned()
            }
            DocumentError::NotInList => {
                "only the trusted documents of this API's manifest may be run with these credentials; send a documentId"
                    .to_owned()
            }
        }
    }
}

/// A document ready to run.
#[derive(Debug)]
pub struct Resolved {
    pub query: String,
    /// The hash to register in the automatic persisted query cache once the document has run
    /// without a request error.
    pub register: Option<String>,
}

/// The manifest, the automatic persisted query cache and the mode.
#[derive(Debug)]
pub struct DocumentStore {
    mode: PersistedMode,
    manifest: Manifest,
    apq: ApqCache,
}

impl DocumentStore {
    /// A store with a manifest (empty when the mode is off) and an APQ cache of
    /// `apq_capacity` documents (0: automatic persisted queries are off).
    pub fn new(mode: PersistedMode, manifest: Manifest, apq_capacity: usize) -> DocumentStore {
        DocumentStore {
            mode,
            manifest,
            apq: ApqCache {
                capacity: apq_capacity,
                entries: Mutex::new(ApqEntries::default()),
            },
        }
    }

    /// The document a request runs, for a caller who may explore (`explorer`) or not.
    ///
    /// # Errors
    /// See [`DocumentError`].
    pub fn resolve(&self, sent: DocumentRef, explorer: bool) -> Result<Resolved, DocumentError> {
        let manifest_on = self.mode != PersistedMode::Off;
        let query = sent.query.filter(|q| !q.trim().is_empty());
        if let Some(id) = sent.document_id {
            if query.is_some() {
                return Err(DocumentError::BadRequest(
                    "send either `query` or `documentId`, not both".to_owned(),
                ));
            }
            if !manifest_on {
                return Err(DocumentError::NotSupported);
            }
            let body = self.manifest.get(&id).ok_or(DocumentError::NotFound)?;
            return Ok(Resolved {
                query: body.to_string(),
                register: None,
            });
        }
        let hash = match sent.persisted_query {
            None | Some(Json::Null) => None,
            Some(ext) => Some(apq_hash(&ext)?),
        };
        let (text, register) = match (query, hash) {
            (None, None) => {
                return Err(DocumentError::BadRequest(
                    "the request has no `query` (nor `documentId`)".to_owned(),
                ));
            }
            (None, Some(hash)) => {
                if manifest_on && let Some(body) = self.manifest.get(&hash) {
                    return Ok(Resolved {
                        query: body.to_string(),
                        register: None,
                    });
                }
                if self.apq.capacity == 0 {
                    return Err(if manifest_on {
                        DocumentError::NotFound
                    } else {
                        DocumentError::NotSupported
                    });
                }
                let body = self.apq.get(&hash).ok_or(DocumentError::NotFound)?;
                (body.to_string(), None)
            }
            (Some(text), Some(hash)) => {
                if sha256_hex(&text) != hash {
                    return Err(DocumentError::HashMismatch);
                }
                (text, (self.apq.capacity > 0).then_some(hash))
            }
            (Some(text), None) => (text, None),
        };
        if self.mode == PersistedMode::Required
            && !explorer
            && !self.manifest.trusts(&sha256_hex(&text))
        {
            return Err(DocumentError::NotInList);
        }
        Ok(Resolved {
            query: text,
            register,
        })
    }

    /// Keeps a document that ran, under its hash, for automatic persisted queries.
    pub fn register(&self, hash: String, query: &str) {
        self.apq.insert(hash, Arc::from(query));
    }

    /// The mode.
    pub fn mode(&self) -> PersistedMode {
        self.mode
    }
}

/// The hash of `extensions.persistedQuery`: `{"version": 1, "sha256Hash": "<64 hex>"}`.
fn apq_hash(ext: &Json) -> Result<String, DocumentError> {
    let bad = |m: &str| DocumentError::BadRequest(format!("`extensions.persistedQuery`: {m}"));
    let Json::Object(map) = ext else {
        return Err(bad("must be an object"));
    };
    match map.get("version") {
        Some(v) if v.as_u64() == Some(1) => {}
        _ => return Err(bad("`version` must be 1")),
    }
    match map.get("sha256Hash").and_then(Json::as_str) {
        Some(h) if is_sha256_hex(h) => Ok(h.to_ascii_lowercase()),
        _ => Err(bad("`sha256Hash` must be 64 hexadecimal digits")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DOC: &str = "query Publishers { publishers { id } }";

    fn store(mode: PersistedMode, apq: usize) -> DocumentStore {
        let manifest = Manifest::parse(
            &json!({ "my-doc": DOC, format!("sha256:{}", sha256_hex("{ viewer { kind } }")): "{ viewer { kind } }" })
                .to_string(),
        )
        .expect("manifest");
        DocumentStore::new(mode, manifest, apq)
    }

    fn apq(hash: &str) -> Option<Json> {
        Some(json!({ "version": 1, "sha256Hash": hash }))
    }

    #[test]
    fn both_manifest_formats_are_read_and_bad_ones_refused() {
        let apollo = json!({ "format": APOLLO_FORMAT, "version": 1, "operations": [
            { "id": sha256_hex(DOC), "name": "Publishers", "type": "query", "body": DOC }
        ]});
        let m = Manifest::parse(&apollo.to_string()).expect("apollo");
        assert_eq!(m.len(), 1);
        assert!(m.get(&format!("sha256:{}", sha256_hex(DOC))).is_some());
        assert_eq!(m.id_problem(&m.operations()[0]), None);
        let wrong = json!({ "format": APOLLO_FORMAT, "version": 1, "operations": [
            { "id": "abc", "body": DOC }
        ]});
        let err = Manifest::parse(&wrong.to_string()).expect_err("an id that is not the hash");
        assert!(format!("{err:#}").contains("not the SHA-256"), "{err:#}");
        let upper = json!({ "format": APOLLO_FORMAT, "version": 1, "operations": [
            { "id": sha256_hex(DOC).to_ascii_uppercase(), "body": DOC }
        ]});
        let m = Manifest::parse(&upper.to_string()).expect("an uppercase hash is the hash");
        assert!(m.get(&sha256_hex(DOC)).is_some());
        for (bad, why) in [
            ("[]", "a manifest is a JSON object"),
            ("{\"a\": 1}", "expected a document string"),
            ("{\"a\": \" \"}", "the document is empty"),
            (
                "{\"format\": \"relay\", \"version\": 1, \"operations\": []}",
                "unknown manifest format",
            ),
            (
                "{\"a\": \"{ x }\", \"sha256:a\": \"{ y }\"}",
                "two different documents",
            ),
        ] {
            let err = Manifest::parse(bad).expect_err(bad);
            assert!(format!("{err:#}").contains(why), "{bad}: {err:#}");
        }
    }

    #[test]
    fn required_mode_runs_manifest_documents_only_for_those_who_may_not_explore() {
        let s = store(PersistedMode::Required, 10);
        let by_id = s
            .resolve(
                DocumentRef {
                    document_id: Some("my-doc".into()),
                    ..Default::default()
                },
                false,
            )
            .expect("by id");
        assert_eq!(by_id.query, DOC);
        let text = |q: &str, explorer| {
            s.resolve(
                DocumentRef {
                    query: Some(q.into()),
                    ..Default::default()
                },
                explorer,
            )
        };
        assert!(
            text(DOC, false).is_ok(),
            "the exact text of a trusted document"
        );
        assert_eq!(
            text("{ publishers { id name } }", false).map(|r| r.query),
            Err(DocumentError::NotInList)
        );
        assert!(text("{ publishers { id name } }", true).is_ok());
        let unknown = s.resolve(
            DocumentRef {
                document_id: Some("nope".into()),
                ..Default::default()
            },
            true,
        );
        assert_eq!(unknown.map(|r| r.query), Err(DocumentError::NotFound));
    }

    #[test]
    fn automatic_persisted_queries_check_the_hash_and_stay_bounded() {
        let s = store(PersistedMode::Off, 2);
        let q = "{ publishers { name } }";
        let hash = sha256_hex(q);
        let first = s.resolve(
            DocumentRef {
                persisted_query: apq(&hash),
                ..Default::default()
            },
            false,
        );
        assert_eq!(first.map(|r| r.query), Err(DocumentError::NotFound));
        let mismatch = s.resolve(
            DocumentRef {
                query: Some("{ publishers { id } }".into()),
                persisted_query: apq(&hash),
                ..Default::default()
            },
            false,
        );
        assert_eq!(mismatch.map(|r| r.query), Err(DocumentError::HashMismatch));
        let sent = s
            .resolve(
                DocumentRef {
                    query: Some(q.into()),
                    persisted_query: apq(&hash.to_ascii_uppercase()),
                    ..Default::default()
                },
                false,
            )
            .expect("text and hash");
        assert_eq!(sent.register.as_deref(), Some(hash.as_str()));
        s.register(hash.clone(), q);
        let again = s
            .resolve(
                DocumentRef {
                    persisted_query: apq(&hash),
                    ..Default::default()
                },
                false,
            )
            .expect("cached");
        assert_eq!(again.query, q);
        // Two more push the first one out.
        s.register(sha256_hex("{ a }"), "{ a }");
        s.register(sha256_hex("{ b }"), "{ b }");
        assert!(s.apq.get(&hash).is_none());
        assert!(s.apq.get(&sha256_hex("{ b }")).is_some());
        for bad in [
            json!("x"),
            json!({ "version": 2, "sha256Hash": hash }),
            json!({ "version": 1, "sha256Hash": "abc" }),
        ] {
            let r = s.resolve(
                DocumentRef {
                    persisted_query: Some(bad.clone()),
                    ..Default::default()
                },
                false,
            );
            assert!(
                matches!(r, Err(DocumentError::BadRequest(_))),
                "{bad}: {r:?}"
            );
        }
        let off = store(PersistedMode::Off, 0).resolve(
            DocumentRef {
                persisted_query: apq(&hash),
                ..Default::default()
            },
            false,
        );
        assert_eq!(off.map(|r| r.query), Err(DocumentError::NotSupported));
    }
}
