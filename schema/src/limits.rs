//! What one request may ask, checked before anything runs: document size and tokens (counted
//! while lexing, before a full parse), aliases, root fields, directives per field, and a cost
//! that multiplies by page sizes, with a budget by kind of viewer.
//!
//! The cost of a field is 1, plus the number of values of its list arguments, plus its
//! children's cost times its page size: `first` (20 when not given) for a paginated field, the
//! number of representations for `_entities`, [`ASSUMED_LIST_SIZE`] for other lists (but a
//! connection's `nodes` and `edges`, which are its page).
//! Introspection costs nothing here (its size is the schema's).
use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationType, Selection, SelectionSet, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Name, Positioned, Variables};
use async_graphql_value::{ConstValue, Value};
use passerelle_entities::access::Kind;

use passerelle_resolvers::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
/// The size assumed for a list that is not paginated (addresses, facets, publishers).
pub const ASSUMED_LIST_SIZE: u64 = 10;
/// Selection sets nested deeper than this are refused by the cost walk itself (the depth limit
/// refuses them later anyway; this bounds the walk, which runs before validation).
const MAX_WALK_DEPTH: usize = 64;

/// The static limits of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticLimits {
    pub max_document_bytes: usize,
    pub max_tokens: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_directives_per_field: usize,
}

impl Default for StaticLimits {
    fn default() -> Self {
        StaticLimits {
            max_document_bytes: 32 * 1024,
            max_tokens: 5_000,
            max_aliases: 30,
            max_root_fields: 20,
            max_directives_per_field: 4,
        }
    }
}

/// Cost budgets by kind of viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostLimits {
    pub anonymous: u64,
    pub partner: u64,
    /// A person signed in, but an admin.
    pub user: u64,
    pub admin: u64,
}

impl Default for CostLimits {
    fn default() -> Self {
        CostLimits {
            anonymous: 10_000,
            partner: 20_000,
            user: 20_000,
            admin: 100_000,
        }
    }
}

impl CostLimits {
    /// The budget of a kind of viewer.
    pub fn of(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Anonymous => self.anonymous,
            Kind::Partner => self.partner,
            Kind::Admin => self.admin,
            Kind::Volunteer
            | Kind::StructureStaff
            | Kind::ReferentDepartment
            | Kind::ReferentRegion
            | Kind::Analyst => self.user,
        }
    }
}

/// Why a request was refused: which limit, the value found, the maximum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit {
    /// `bytes`, `tokens`, `aliases`, `rootFields`, `directives` or `cost`.
    pub limit: &'static str,
    pub value: u64,
    pub max: u64,
}

impl OverLimit {
    pub fn message(&self) -> String {
        let what = match self.limit {
            "bytes" => "the document has more bytes",
            "tokens" => "the document has more tokens",
            "aliases" => "the document has more aliases",
            "rootFields" => "an operation has more root fields",
            "directives" => "a field has more directives",
            _ => "the query costs more",
        };
        if self.limit == "cost" {
            format!(
                "the query costs {} and the limit is {} (a page of `first` items counts its selection `first` times)",
                self.value, self.max
            )
        } else {
            format!("{what} ({}) than allowed ({})", self.value, self.max)
        }
    }
}

fn over(limit: &'static str, value: usize, max: usize) -> Result<(), OverLimit> {
    if value > max {
        Err(OverLimit {
            limit,
            value: value as u64,
            max: max as u64,
        })
    } else {
        Ok(())
    }
}

/// Checks the size of a document and counts its tokens, stopping at the limit: run on the
/// text, before it is parsed.
///
/// # Errors
/// The document has too many bytes or tokens.
pub fn check_text(query: &str, limits: &StaticLimits) -> Result<(), OverLimit> {
    over("bytes", query.len(), limits.max_document_bytes)?;
    let tokens = count_tokens(query, limits.max_tokens + 1);
    over("tokens", tokens, limits.max_tokens)
}

/// The lexical tokens of a GraphQL document (punctuators, names, numbers, strings), up to
/// `stop`. Whitespace, commas and comments are not tokens.
pub fn count_tokens(text: &str, stop: usize) -> usize {
    let bytes = text.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < bytes.len() && n < stop {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                n += 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                n += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                i += 3;
                n += 1;
            }
            c if c == b'_' || c.is_ascii_alphanumeric() || c == b'-' => {
                i += 1;
                while i < bytes.len()
                    && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.')
                {
                    i += 1;
                }
                n += 1;
            }
            _ => {
                // A punctuator, or a character the parser will refuse: one token each.
                i += text[i..].chars().next().map_or(1, char::len_utf8);
                n += 1;
            }
        }
    }
    n
}

/// What the walks over a document know of a field of the schema.
#[derive(Debug, Clone)]
pub(crate) struct FieldShape {
    /// The named type it returns.
    pub(crate) type_name: String,
    list: bool,
    /// It takes `first`.
    paginated: bool,
    /// It may be null (its type has no `!` outside).
    pub(crate) nullable: bool,
}

/// The schema's fields by type, and which types are objects: built once from the SDL, for the
/// cost walk and for the walks of [`crate::guard`].
#[derive(Debug, Clone, Default)]
pub struct CostModel {
    fields: HashMap<String, HashMap<String, FieldShape>>,
    objects: HashSet<String>,
}

impl CostModel {
    /// The model of a schema, from its SDL.
    pub fn from_sdl(sdl: &str) -> CostModel {
        let mut fields: HashMap<String, HashMap<String, FieldShape>> = HashMap::new();
        let mut objects = HashSet::new();
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            return CostModel::default();
        };
        for def in doc.definitions {
            let TypeSystemDefinition::Type(ty) = def else {
                continue;
            };
            let ty = ty.node;
            let type_name = ty.name.node.to_string();
            let defs = match ty.kind {
                TypeKind::Object(o) => {
                    objects.insert(type_name.clone());
                    o.fields
                }
                TypeKind::Interface(i) => i.fields,
                _ => continue,
            };
            let of_type = fields.entry(type_name).or_default();
            for f in defs {
                let f = f.node;
                let nullable = f.ty.node.nullable;
                let mut t = &f.ty.node;
                let mut list = false;
                while let BaseType::List(inner) = &t.base {
                    list = true;
                    t = inner;
                }
                let BaseType::Named(name) = &t.base else {
                    continue;
                };
                of_type.insert(
                    f.name.node.to_string(),
                    FieldShape {
                        type_name: name.to_string(),
                        list,
                        paginated: f.arguments.iter().any(|a| a.node.name.node == "first"),
                        nullable,
                    },
                );
            }
        }
        CostModel { fields, objects }
    }

    /// The field `name` of the object or interface `parent`.
    pub(crate) fn field(&self, parent: &str, name: &str) -> Option<&FieldShape> {
        self.fields.get(parent)?.get(name)
    }

    /// Whether `name` is an object type (not an interface, a union or a scalar).
    pub(crate) fn is_object(&self, name: &str) -> bool {
        self.objects.contains(name)
    }

    /// The cost of the costliest operation of a document, and its static counts.
    ///
    /// # Errors
    /// Aliases, root fields or directives over their limits, or a cost over `budget`.
    pub fn check(
        &self,
        doc: &ExecutableDocument,
        variables: &Variables,
        limits: &StaticLimits,
        budget: u64,
    ) -> Result<u64, OverLimit> {
        let mut walk = Walk {
            model: self,
            doc,
            variables,
            aliases: 0,
            most_directives: 0,
            in_fragments: HashSet::new(),
        };
        let mut cost = 0u64;
        for (_, op) in doc.operations.iter() {
            let root = match op.node.ty {
                OperationType::Query => "Query",
                OperationType::Mutation => "Mutation",
                OperationType::Subscription => "Subscription",
            };
            let mut roots = 0;
            count_roots(doc, &op.node.selection_set.node, &mut roots, 0);
            over("rootFields", roots, limits.max_root_fields)?;
            cost = cost.max(walk.selection_set(root, &op.node.selection_set.node, 0));
        }
        // Fragments never spread still count for aliases and directives.
        for fragment in doc.fragments.values() {
            walk.count_static(&fragment.node.selection_set.node);
        }
        over("aliases", walk.aliases, limits.max_aliases)?;
        over(
            "directives",
            walk.most_directives,
            limits.max_directives_per_field,
        )?;
        if cost > budget {
            return Err(OverLimit {
                limit: "cost",
                value: cost,
                max: budget,
            });
        }
        Ok(cost)
    }
}

/// Counts the root fields of an operation, through fragments.
fn count_roots(doc: &ExecutableDocument, set: &SelectionSet, n: &mut usize, depth: usize) {
    if depth > 8 {
        return;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(_) => *n += 1,
            Selection::InlineFragment(f) => {
                count_roots(doc, &f.node.selection_set.node, n, depth + 1);
            }
            Selection::FragmentSpread(s) => {
                if let Some(f) = doc.fragments.get(&s.node.fragment_name.node) {
                    count_roots(doc, &f.node.selection_set.node, n, depth + 1);
                }
            }
        }
    }
}

struct Walk<'a> {
    model: &'a CostModel,
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    aliases: usize,
    most_directives: usize,
    /// The fragments being walked, to stop on cycles (validation refuses them later).
    in_fragments: HashSet<Name>,
}

impl Walk<'_> {
    fn value<'v>(&'v self, v: &'v Value) -> Option<&'v ConstValue> {
        // Arguments may be variables; literals are taken as they are.
        match v {
            Value::Variable(name) => self.variables.get(name),
            _ => None,
        }
    }

    /// A whole number argument, literal or variable.
    fn number(&self, v: &Positioned<Value>) -> Option<u64> {
        let as_u64 = |n: &async_graphql::Number| n.as_u64().or_else(|| n.as_i64().map(|_| 0));
        match &v.node {
            Value::Number(n) => as_u64(n),
            other => match self.value(other) {
                Some(ConstValue::Number(n)) => as_u64(n),
                _ => None,
            },
        }
    }

    /// The number of values of a list argument, literal or variable, through input objects.
    fn list_values(&self, v: &Value) -> u64 {
        match v {
            Value::List(items) => items.len() as u64,
            Value::Object(fields) => fields.values().map(|f| self.list_values(f)).sum(),
            Value::Variable(_) => self.value(v).map_or(0, const_list_values),
            _ => 0,
        }
    }

    fn selection_set(&mut self, parent: &str, set: &SelectionSet, depth: usize) -> u64 {
        if depth > MAX_WALK_DEPTH {
            return u64::MAX;
        }
        let mut cost = 0u64;
        for item in &set.items {
            let item_cost = match &item.node {
                Selection::Field(f) => self.field(parent, &f.node, depth),
                Selection::InlineFragment(f) => {
                    self.most_directives = self.most_directives.max(f.node.directives.len());
                    let on = f
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent.to_owned(), |t| t.node.on.node.to_string());
                    self.selection_set(&on, &f.node.selection_set.node, depth + 1)
                }
                Selection::FragmentSpread(s) => {
                    self.most_directives = self.most_directives.max(s.node.directives.len());
                    let name = &s.node.fragment_name.node;
                    match self.doc.fragments.get(name) {
                        Some(f) if self.in_fragments.insert(name.clone()) => {
                            let on = f.node.type_condition.node.on.node.to_string();
                            let c = self.selection_set(&on, &f.node.selection_set.node, depth + 1);
                            self.in_fragments.remove(name);
                            c
                        }
                        _ => 0,
                    }
                }
            };
            cost = cost.saturating_add(item_cost);
        }
        cost
    }

    fn field(
        &mut self,
        parent: &str,
        f: &async_graphql::parser::types::Field,
        depth: usize,
    ) -> u64 {
        if f.alias.is_some() {
            self.aliases += 1;
        }
        self.most_directives = self.most_directives.max(f.directives.len());
        let name = f.name.node.as_str();
        if name == "__typename" {
            return 0;
        }
        if name == "__schema" || name == "__type" {
            // Introspection: bounded by the schema's size, governed by its own policy.
            self.count_static(&f.selection_set.node);
            return 0;
        }
        let shape = self.model.field(parent, name).cloned();
        let own = 1u64.saturating_add(
            f.arguments
                .iter()
                .map(|(_, v)| self.list_values(&v.node))
                .sum(),
        );
        let child_type = shape
            .as_ref()
            .map_or_else(String::new, |s| s.type_name.clone());
        let children = self.selection_set(&child_type, &f.selection_set.node, depth + 1);
        let times = match &shape {
            Some(s) if s.paginated => f
                .arguments
                .iter()
                .find(|(n, _)| n.node == "first")
                .and_then(|(_, v)| self.number(v))
                // A larger page is refused by the field itself, with its own error.
                .map_or(DEFAULT_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE)),
            Some(s) if s.list && name == "_entities" => f
                .arguments
                .iter()
                .find(|(n, _)| n.node == "representations")
                .map_or(ASSUMED_LIST_SIZE, |(_, v)| self.list_values(&v.node)),
            // A connection's `nodes` and `edges` are its page, already counted by `first`.
            Some(s) if s.list && !parent.ends_with("Connection") => ASSUMED_LIST_SIZE,
            _ => 1,
        };
        own.saturating_add(children.saturating_mul(times.max(1)))
    }

    /// Counts aliases and directives of a selection set, without cost.
    fn count_static(&mut self, set: &SelectionSet) {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    if f.node.alias.is_some() {
                        self.aliases += 1;
                    }
                    self.most_directives = self.most_directives.max(f.node.directives.len());
                    self.count_static(&f.node.selection_set.node);
                }
                Selection::InlineFragment(f) => self.count_static(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
}

fn const_list_values(v: &ConstValue) -> u64 {
    match v {
        ConstValue::List(items) => items.len() as u64,
        ConstValue::Object(fields) => fields.values().map(const_list_values).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CostModel {
        CostModel::from_sdl(
            "type Query { missions(first: Int, filter: F): MissionConnection! publishers: [Publisher!]! }
             type MissionConnection { totalCount: Int! nodes: [Mission!]! }
             type Mission { id: ID! title: String! organization: Organization addresses: [Address!]! }
             type Organization { name: String! missions(first: Int): MissionConnection! }
             type Address { city: String }
             type Publisher { name: String! }
             input F { domains: [String!] }",
        )
    }

    fn cost(query: &str, variables: serde_json::Value) -> Result<u64, OverLimit> {
        let doc = async_graphql::parser::parse_query(query).expect("parse");
        model().check(
            &doc,
            &Variables::from_json(variables),
            &StaticLimits::default(),
            u64::MAX,
        )
    }

    #[test]
    fn pages_multiply_their_selection_by_their_size() {
        assert_eq!(
            cost(
                "{ missions(first: 10) { totalCount } }",
                serde_json::json!({})
            ),
            Ok(11)
        );
        // Without first: the default page of 20.
        assert_eq!(
            cost("{ missions { totalCount } }", serde_json::json!({})),
            Ok(21)
        );
        // From a variable, and nested pages multiply.
        assert_eq!(
            cost(
                "query($n: Int) { missions(first: $n) { nodes { organization { missions(first: 5) { nodes { id } } } } } }",
                serde_json::json!({ "n": 100 })
            ),
            // 1 + 100 × (nodes: 1 + 1 × (organization: 1 + (missions: 1 + 5 × (nodes: 1 + 1 × 1))))
            Ok(1 + 100 * (1 + (1 + (1 + 5 * (1 + 1)))))
        );
        // Lists without pages: an assumed size; list filters count their values.
        assert_eq!(
            cost("{ publishers { name } }", serde_json::json!({})),
            Ok(11)
        );
        assert_eq!(
            cost(
                "{ missions(first: 1, filter: { domains: [\"a\", \"b\"] }) { totalCount } }",
                serde_json::json!({})
            ),
            Ok(4)
        );
    }

    #[test]
    fn aliases_fragments_cycles_and_introspection() {
        let many: String = (0..40).map(|i| format!("a{i}: totalCount ")).collect();
        let over = cost(
            &format!("{{ missions {{ {many} }} }}"),
            serde_json::json!({}),
        );
        assert_eq!(over.map_err(|e| e.limit), Err("aliases"));
        assert_eq!(
            cost(
                "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A missions(first: 1) { totalCount } }",
                serde_json::json!({})
            ),
            Ok(2),
            "a cycle of fragments stops"
        );
        assert_eq!(
            cost(
                "{ __schema { types { fields { name } } } }",
                serde_json::json!({})
            ),
            Ok(0)
        );
    }

    #[test]
    fn tokens_are_counted_without_parsing() {
        assert_eq!(
            count_tokens(
                "{ a(x: 1.5e3, s: \"a b\", t: \"\"\"x\ny\"\"\") { ...F } } # c",
                100
            ),
            18
        );
        assert_eq!(
            count_tokens(&"{ a } ".repeat(1000), 10),
            10,
            "stops at the limit"
        );
        let limits = StaticLimits {
            max_tokens: 5,
            ..StaticLimits::default()
        };
        assert_eq!(
            check_text("{ a b c d e }", &limits).map_err(|e| e.limit),
            Err("tokens")
        );
        assert!(check_text("{ a b c }", &limits).is_ok());
    }
}
