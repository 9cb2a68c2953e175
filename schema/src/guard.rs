//! The field access rules and the shape of responses.
//!
//! A field the viewer's kind may not read ([`policy`]) is `FORBIDDEN`, before its resolver runs.
//! async-graphql can only check this per field, in an extension wrapped around every field's
//! resolution, and any extension at all sends every field of every request down its slower path
//! (a boxed future, a registry lookup and, in lists, two type names formatted per item). So the
//! rules are first checked on the document ([`needs_guard`]): a request whose every field, on
//! the type it is selected on, is readable by its viewer runs on a schema with no extension;
//! only the others (and introspection, federation's entities, selections on abstract types,
//! whose fields' object types are known only as they run) run on the schema with the [`Guard`].
//!
//! Whichever ran it, [`finish`] shapes the response once: a stable `extensions.code` on every
//! error, by the phase it came from; `null` where a nullable field failed (async-graphql leaves
//! the field out); fields in the order the query asks them.
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{PathSegment, Positioned, Response, ServerError, ServerResult, Value};
use passerelle_entities::access::Kind;
use passerelle_resolvers::policy;

use crate::Exposure;
use crate::limits::{CostModel, FieldShape, OverLimit};

/// Deeper selections than this are left to the guard (the depth limit refuses them anyway).
const MAX_CHECK_DEPTH: usize = 64;

/// The operation a request runs: the one named, or the only one.
pub(crate) fn operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match name {
        Some(wanted) => doc
            .operations
            .iter()
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == wanted))
            .map(|(_, op)| op),
        None => doc.operations.iter().next().map(|(_, op)| op),
    }
}

/// The root type of an operation.
pub(crate) fn root_type(op: &OperationDefinition) -> &'static str {
    use async_graphql::parser::types::OperationType;
    match op.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    }
}

/// Whether a document needs the per-field [`Guard`]: some field of one of its operations is
/// not readable by `kind`, or its readability cannot be told from the document alone
/// (introspection and federation's root fields, whose exposure varies; a selection on an
/// interface or a union; a field the schema does not have, which validation then refuses).
/// When in doubt, the answer is yes: the guard decides as the fields run.
pub(crate) fn needs_guard(model: &CostModel, doc: &ExecutableDocument, kind: Kind) -> bool {
    let mut check = Check {
        model,
        doc,
        kind,
        in_fragments: Vec::new(),
    };
    !doc.operations
        .iter()
        .all(|(_, op)| check.set(root_type(&op.node), &op.node.selection_set.node, 0))
}

struct Check<'a> {
    model: &'a CostModel,
    doc: &'a ExecutableDocument,
    kind: Kind,
    /// The fragments being walked (a cycle, which validation refuses, stops the walk).
    in_fragments: Vec<&'a str>,
}

impl<'a> Check<'a> {
    /// Whether every field of `set`, selected on the object type `parent`, is readable.
    fn set(&mut self, parent: &str, set: &'a SelectionSet, depth: usize) -> bool {
        if depth > MAX_CHECK_DEPTH {
            return false;
        }
        set.items.iter().all(|item| match &item.node {
            Selection::Field(f) => self.field(parent, &f.node, depth),
            Selection::InlineFragment(i) => {
                i.node
                    .type_condition
                    .as_ref()
                    .is_none_or(|c| c.node.on.node == parent)
                    && self.set(parent, &i.node.selection_set.node, depth + 1)
            }
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.as_str();
                if self.in_fragments.contains(&name) {
                    return false;
                }
                let Some(fragment) = self.doc.fragments.get(&s.node.fragment_name.node) else {
                    return false;
                };
                if fragment.node.type_condition.node.on.node != parent {
                    return false;
                }
                self.in_fragments.push(name);
                let readable = self.set(parent, &fragment.node.selection_set.node, depth + 1);
                self.in_fragments.pop();
                readable
            }
        })
    }

    fn field(
        &mut self,
        parent: &str,
        f: &'a async_graphql::parser::types::Field,
        depth: usize,
    ) -> bool {
        let name = f.name.node.as_str();
        if name == "__typename" {
            return true;
        }
        if name.starts_with("__") || name == "_service" || name == "_entities" {
            return false;
        }
        let Some(shape) = self.model.field(parent, name) else {
            return false;
        };
        if !policy::allows(self.kind, parent, name) {
            return false;
        }
        let sub = &f.selection_set.node;
        sub.items.is_empty()
            || (self.model.is_object(&shape.type_name)
                && self.set(&shape.type_name, sub, depth + 1))
    }
}

/// The guard over every field's resolution, for the requests [`needs_guard`] sends it. It also
/// stops a request marked [`crate::ValidateOnly`] before it runs.
pub(crate) struct GuardFactory;

impl ExtensionFactory for GuardFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard)
    }
}

pub(crate) struct Guard;

#[async_graphql::async_trait::async_trait]
impl Extension for Guard {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if ctx.data_opt::<crate::ValidateOnly>().is_some() {
            return Response::new(Value::Object(Default::default()));
        }
        next.run(ctx, operation_name).await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let hidden = info.parent_type == "Query"
            && matches!(info.name, "__schema" | "__type" | "_service")
            && {
                let exposure = ctx.data_opt::<Exposure>().copied().unwrap_or_default();
                if info.name == "_service" {
                    !exposure.service_sdl
                } else {
                    !exposure.introspection
                }
            };
        let kind = ctx
            .data_opt::<passerelle_entities::access::Viewer>()
            .map_or(Kind::Anonymous, |v| v.access.kind());
        if hidden || !policy::allows(kind, info.parent_type, info.name) {
            if policy::field_access(info.parent_type, info.name).is_none() {
                tracing::warn!(
                    graphql.type = info.parent_type,
                    graphql.field = info.name,
                    "a field without an access rule was denied; add one in resolvers/src/policy.rs"
                );
            }
            let mut e = ServerError::new(
                format!(
                    "{}.{} is not readable with these credentials",
                    info.parent_type, info.name
                ),
                None,
            );
            e.path = info
                .path_node
                .to_string_vec()
                .into_iter()
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => PathSegment::Index(i),
                    Err(_) => PathSegment::Field(s),
                })
                .collect();
            return Err(with_code(e, "FORBIDDEN"));
        }
        // A bare error here is async-graphql refusing what the request sent, even where it
        // gives no path (an `_entities` representation without a known `__typename`).
        next.run(ctx, info)
            .await
            .map_err(|e| with_code(e, "BAD_USER_INPUT"))
    }
}

/// A request over one of [`crate::limits`]: refused before it runs, with the limit, the value
/// and the maximum in `extensions`.
pub(crate) fn refused(over: OverLimit) -> ServerError {
    let mut e = ServerError::new(over.message(), None);
    let ext = e.extensions.get_or_insert_with(Default::default);
    ext.set("code", "GRAPHQL_VALIDATION_FAILED");
    ext.set("limit", over.limit);
    if over.limit == "cost" {
        ext.set("cost", over.value);
    } else {
        ext.set("value", over.value);
    }
    ext.set("max", over.max);
    e
}

/// Gives `e` the code `code` unless it has one.
pub(crate) fn with_code(mut e: ServerError, code: &str) -> ServerError {
    let ext = e.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    e
}

/// Shapes a response of `op` once it has run (see the module's documentation).
///
/// Errors without a code get one by where they stand. Every error of our resolvers carries a
/// code by construction (`ApiError` has no `Display`, so `?` cannot make a bare one), so a bare
/// error at a field's path comes from async-graphql refusing what the request sent (an argument
/// of the wrong shape, an out-of-range number, an `_entities` representation without a known
/// `__typename`): `BAD_USER_INPUT`. A bare error of a request that produced no data was refused
/// before it ran (validation, an unknown `operationName`): `GRAPHQL_VALIDATION_FAILED`. Any
/// other is ours: `INTERNAL_SERVER_ERROR`.
pub(crate) fn finish(
    model: &CostModel,
    doc: &ExecutableDocument,
    op: Option<&Positioned<OperationDefinition>>,
    response: &mut Response,
) {
    let refused = response.data == Value::Null;
    for e in &mut response.errors {
        let code = if !e.path.is_empty() {
            "BAD_USER_INPUT"
        } else if refused {
            "GRAPHQL_VALIDATION_FAILED"
        } else {
            "INTERNAL_SERVER_ERROR"
        };
        *e = with_code(std::mem::replace(e, ServerError::new("", None)), code);
    }
    let Some(op) = op else {
        return;
    };
    let root = root_type(&op.node);
    let sets = [&op.node.selection_set.node];
    for e in &response.errors {
        if e.path.is_empty() {
            continue;
        }
        if field_at(model, doc, root, &sets, &e.path).is_some_and(|f| f.nullable) {
            put_null(&mut response.data, &e.path);
        }
    }
    put_in_order(doc, &Order::of(doc, &sets), &mut response.data);
}

/// The field of the schema a response path stands at, through the document's aliases and
/// fragments.
fn field_at<'m>(
    model: &'m CostModel,
    doc: &ExecutableDocument,
    root: &str,
    sets: &[&SelectionSet],
    path: &[PathSegment],
) -> Option<&'m FieldShape> {
    let mut level: Vec<(String, &SelectionSet)> =
        sets.iter().map(|s| (root.to_owned(), *s)).collect();
    let mut found = None;
    for segment in path {
        let PathSegment::Field(key) = segment else {
            continue;
        };
        let mut next = Vec::new();
        found = None;
        for (parent, set) in &level {
            for (on, field) in fields_with_key(doc, parent, set, key, 0) {
                if let Some(shape) = model.field(&on, field.name.node.as_str()) {
                    found = Some(shape);
                    next.push((shape.type_name.clone(), &field.selection_set.node));
                }
            }
        }
        found?;
        level = next;
    }
    found
}

/// The fields of `set` (selected on `parent`) answering at response key `key`, each with the
/// type it is selected on, through inline fragments and fragment spreads.
fn fields_with_key<'d>(
    doc: &'d ExecutableDocument,
    parent: &str,
    set: &'d SelectionSet,
    key: &str,
    depth: usize,
) -> Vec<(String, &'d async_graphql::parser::types::Field)> {
    let mut out = Vec::new();
    if depth > MAX_CHECK_DEPTH {
        return out;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(f) if f.node.response_key().node == key => {
                out.push((parent.to_owned(), &f.node));
            }
            Selection::Field(_) => {}
            Selection::InlineFragment(i) => {
                let on = i
                    .node
                    .type_condition
                    .as_ref()
                    .map_or(parent, |c| c.node.on.node.as_str());
                out.extend(fields_with_key(
                    doc,
                    on,
                    &i.node.selection_set.node,
                    key,
                    depth + 1,
                ));
            }
            Selection::FragmentSpread(s) => {
                if let Some(f) = doc.fragments.get(&s.node.fragment_name.node) {
                    let on = f.node.type_condition.node.on.node.as_str();
                    out.extend(fields_with_key(
                        doc,
                        on,
                        &f.node.selection_set.node,
                        key,
                        depth + 1,
                    ));
                }
            }
        }
    }
    out
}

/// Sets `null` at `path` in `data` when the field is missing and its parent is there.
fn put_null(data: &mut Value, path: &[PathSegment]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if parents.is_empty() && *data == Value::Null {
        *data = Value::Object(Default::default());
    }
    let mut node = data;
    for segment in parents {
        node = match (segment, node) {
            (PathSegment::Field(name), Value::Object(map)) => match map.get_mut(name.as_str()) {
                Some(child) => child,
                None => return,
            },
            (PathSegment::Index(i), Value::List(items)) => match items.get_mut(*i) {
                Some(child) => child,
                None => return,
            },
            _ => return,
        };
    }
    if let (PathSegment::Field(name), Value::Object(map)) = (last, node) {
        map.entry(async_graphql::Name::new(name))
            .or_insert(Value::Null);
    }
}

/// The response keys of selection sets, in document order, through fragments (each once per
/// level), with the sub-selections each key merges.
fn response_keys<'d>(
    doc: &'d ExecutableDocument,
    sets: &[&'d SelectionSet],
    keys: &mut Vec<(&'d str, Vec<&'d SelectionSet>)>,
    seen_fragments: &mut Vec<&'d str>,
) {
    for set in sets {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let key = f.node.response_key().node.as_str();
                    let sub = &f.node.selection_set.node;
                    match keys.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subs)) => subs.push(sub),
                        None => keys.push((key, vec![sub])),
                    }
                }
                Selection::InlineFragment(i) => {
                    response_keys(doc, &[&i.node.selection_set.node], keys, seen_fragments);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if seen_fragments.contains(&name) {
                        continue;
                    }
                    seen_fragments.push(name);
                    if let Some(f) = doc.fragments.get(&spread.node.fragment_name.node) {
                        response_keys(doc, &[&f.node.selection_set.node], keys, seen_fragments);
                    }
                }
            }
        }
    }
}

/// The order of an object's fields as its selections ask them: each response key, the
/// selection sets it merges, and (worked out the first time a response has a value there) the
/// order of that value's own fields. The tree grows with the response, not with the document:
/// every item of a list shares its node, so each distinct place is worked out once.
struct Order<'d> {
    fields: Vec<FieldOrder<'d>>,
}

struct FieldOrder<'d> {
    key: &'d str,
    sets: Vec<&'d SelectionSet>,
    order: std::cell::OnceCell<Order<'d>>,
}

impl<'d> Order<'d> {
    fn of(doc: &'d ExecutableDocument, sets: &[&'d SelectionSet]) -> Self {
        let mut keys = Vec::new();
        response_keys(doc, sets, &mut keys, &mut Vec::new());
        Order {
            fields: keys
                .into_iter()
                .map(|(key, sets)| FieldOrder {
                    key,
                    sets,
                    order: std::cell::OnceCell::new(),
                })
                .collect(),
        }
    }

    /// Where a response key stands; keys the selections do not name go after the others.
    fn rank(&self, key: &str) -> usize {
        self.rank_from(key, 0)
    }

    /// [`Order::rank`], looking from `hint` first: an object's keys in order (nearly always)
    /// are each found at the first look.
    fn rank_from(&self, key: &str, hint: usize) -> usize {
        let hint = hint.min(self.fields.len());
        let (before, after) = self.fields.split_at(hint);
        after
            .iter()
            .position(|f| f.key == key)
            .map(|i| hint + i)
            .or_else(|| before.iter().position(|f| f.key == key))
            .unwrap_or(usize::MAX)
    }
}

/// Puts the fields of every object in `data` in the order the selections ask them (async-graphql
/// lists an object's fields in the order they finished resolving). Keys the selections do not
/// name stay after, as they were. The walk follows the response, so it costs what the response
/// costs to read; an object already in order is left as it is.
fn put_in_order<'d>(doc: &'d ExecutableDocument, order: &Order<'d>, data: &mut Value) {
    match data {
        Value::List(items) => items.iter_mut().for_each(|i| put_in_order(doc, order, i)),
        Value::Object(map) => {
            // One walk finds each key's field (where the previous key's left off), orders
            // the values below, and tells whether this object's keys are in order already.
            let (mut sorted, mut previous, mut next) = (true, 0, 0);
            for (key, value) in map.iter_mut() {
                let rank = order.rank_from(key, next);
                sorted &= rank >= previous;
                previous = rank;
                next = rank.saturating_add(1);
                let Some(field) = order.fields.get(rank) else {
                    continue;
                };
                if field.sets.iter().any(|s| !s.items.is_empty()) {
                    let sub = field.order.get_or_init(|| Order::of(doc, &field.sets));
                    put_in_order(doc, sub, value);
                }
            }
            if !sorted {
                map.sort_by_cached_key(|k, _| order.rank(k));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CostModel {
        CostModel::from_sdl(&crate::sdl())
    }

    fn guarded(kind: Kind, query: &str) -> bool {
        let doc = async_graphql::parser::parse_query(query).expect("parse");
        needs_guard(&model(), &doc, kind)
    }

    #[test]
    fn documents_of_readable_fields_run_without_the_guard() {
        let nested = "{ missions(first: 20) { totalCount nodes { title startAt
            organization { name missions(first: 5) { nodes { title } } }
            publisher { name } addresses { city lat lon } } } }";
        for kind in [Kind::Anonymous, Kind::Partner, Kind::Admin] {
            assert!(!guarded(kind, nested), "{kind:?}");
        }
        // Through fragments on the type they are spread in, and __typename.
        assert!(!guarded(
            Kind::Anonymous,
            "query { missions { nodes { ...M __typename ... on Mission { id } } } }
             fragment M on Mission { title }"
        ));
    }

    #[test]
    fn a_field_the_viewer_may_not_read_needs_the_guard_wherever_it_hides() {
        let volunteers = "{ volunteers { nodes { firstName } } }";
        assert!(guarded(Kind::Anonymous, volunteers));
        assert!(guarded(Kind::Partner, volunteers));
        assert!(!guarded(Kind::Admin, volunteers));
        // Behind an alias, a fragment, an inline fragment, a nested fragment.
        for query in [
            "{ v: volunteers { nodes { firstName } } }",
            "{ ...Q } fragment Q on Query { volunteers { nodes { id } } }",
            "{ ... on Query { volunteers { nodes { id } } } }",
            "{ ...Q } fragment Q on Query { ...R } fragment R on Query { volunteers { nodes { id } } }",
            "query A { missions { nodes { id } } } query B { volunteers { nodes { id } } }",
        ] {
            assert!(guarded(Kind::Anonymous, query), "{query}");
        }
    }

    #[test]
    fn what_the_document_cannot_tell_goes_to_the_guard() {
        for query in [
            "{ __schema { types { name } } }",
            "{ __type(name: \"Mission\") { name } }",
            "{ _service { sdl } }",
            "{ _entities(representations: []) { ... on Mission { title } } }",
            "{ missions { nodes { unknownField } } }",
            "{ ...F } fragment F on Query { ...F }",
            "{ missions { nodes { ... on Organization { name } } } }",
        ] {
            assert!(guarded(Kind::Admin, query), "{query}");
        }
    }

    #[test]
    fn paths_find_their_fields_through_aliases_and_fragments() {
        let doc = async_graphql::parser::parse_query(
            "{ m: missions { nodes { ...F } } } fragment F on Mission { o: organization { name } }",
        )
        .expect("parse");
        let model = model();
        let op = operation(&doc, None).expect("operation");
        let sets = [&op.node.selection_set.node];
        let path = |p: &[&str]| -> Vec<PathSegment> {
            p.iter()
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => PathSegment::Index(i),
                    Err(_) => PathSegment::Field((*s).to_owned()),
                })
                .collect()
        };
        let organization = field_at(
            &model,
            &doc,
            "Query",
            &sets,
            &path(&["m", "nodes", "3", "o"]),
        );
        assert_eq!(
            organization.map(|f| (f.type_name.as_str(), f.nullable)),
            Some(("Organization", true))
        );
        let name = field_at(
            &model,
            &doc,
            "Query",
            &sets,
            &path(&["m", "nodes", "3", "o", "name"]),
        );
        assert_eq!(name.map(|f| f.nullable), Some(false));
        assert!(field_at(&model, &doc, "Query", &sets, &path(&["m", "nope"])).is_none());
    }
}
