//! Objects whose fields are resolved side by side in one allocation, for the objects a
//! response holds many of (the nodes of a page, a mission's addresses).
//!
//! async-graphql resolves an object's fields by boxing one future per field and polling them
//! through a `FuturesUnordered` (one more allocation per field, and a wake-up each): for a page
//! of missions with their organizations' missions, some 400 boxes per request, each as large
//! as the object's largest resolver. Most of those fields are ready at their first poll (a
//! column of a row). [`Inline`] resolves the same fields, through the same `resolve_field` of
//! the type, as futures of one type in one vector, joined: the schema, the answers and the
//! errors do not change (`inline_objects_answer_as_async_graphql_does` checks them against
//! async-graphql's own resolution). Objects the fast path does not handle go to async-graphql:
//! those of a schema without [`InlineObjects`] (the guarded schema, whose extension checks
//! every field), and selections with a directive on a field.
use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::Entry;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{
    ContextSelectionSet, Name, OutputType, Positioned, ServerError, ServerResult, Value,
};
use futures_util::future::join_all;

/// Whether [`Inline`] objects resolve inline: schema data, `true` only where no extension
/// watches the schema's fields (async-graphql's `Extension::resolve`, as the access guard
/// does); a request may turn it off with its own data (the tests compare both). Without it,
/// or `false`, async-graphql resolves them, calling the extensions on every field.
#[derive(Debug, Clone, Copy)]
pub struct InlineObjects(pub bool);

/// `T`, the same type in the schema, whose fields are resolved side by side (see the module).
#[derive(Debug, Clone, Copy)]
pub struct Inline<T>(pub T);

impl<T: OutputType + ContainerType> OutputType for Inline<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        if !ctx.data_opt::<InlineObjects>().is_some_and(|on| on.0) {
            return resolve_container(ctx, &self.0).await;
        }
        // A selection of a few fields alone (no fragment, no directive), as most are, is
        // resolved from an array on the stack; the others are gathered first.
        let items = &ctx.item.node.items;
        let plain = plain_fields(items);
        let mut gathered = Vec::new();
        let fields: &[&Positioned<Field>] = match &plain {
            Some((fields, count)) => &fields[..*count],
            None => {
                gathered.reserve(items.len());
                if !collect(ctx, &self.0, ctx.item, &mut gathered)? {
                    return resolve_container(ctx, &self.0).await;
                }
                &gathered
            }
        };
        let ctx = ctx.clone();
        // Each field's future holds its own context (no vector of them beside the futures).
        let values = join_all(fields.iter().map(|f| {
            let c = ctx.with_field(f);
            async move {
                if c.item.node.name.node == "__typename" {
                    Ok(Some(Value::String(self.0.introspection_type_name().into())))
                } else {
                    self.0.resolve_field(&c).await
                }
            }
        }))
        .await;
        let mut object = IndexMap::with_capacity(values.len());
        for (field, value) in fields.iter().zip(values) {
            match value {
                Ok(value) => insert(
                    &mut object,
                    field.node.response_key().node.clone(),
                    value.unwrap_or_default(),
                ),
                Err(e) => ctx.add_error(e),
            }
        }
        Ok(if object.is_empty() {
            Value::Null
        } else {
            Value::Object(object)
        })
    }
}

/// The most fields [`plain_fields`] holds on the stack.
const PLAIN: usize = 16;

/// The fields of a selection of at most [`PLAIN`] fields without directives, and how many:
/// an array on the stack rather than a vector per object. The futures' vector `join_all`
/// builds from a slice's iterator has the right size; from an iterator that only bounds its
/// length (a filter), it would be grown, then shrunk, copying whole futures.
fn plain_fields(items: &[Positioned<Selection>]) -> Option<([&Positioned<Field>; PLAIN], usize)> {
    let first = plain_field(items.first()?)?;
    if items.len() > PLAIN {
        return None;
    }
    let mut fields = [first; PLAIN];
    for (slot, item) in fields.iter_mut().zip(items) {
        *slot = plain_field(item)?;
    }
    Some((fields, items.len()))
}

/// The field an item of a selection is, when it is a field without directives.
fn plain_field(item: &Positioned<Selection>) -> Option<&Positioned<Field>> {
    match &item.node {
        Selection::Field(field) if field.node.directives.is_empty() => Some(field),
        _ => None,
    }
}

/// Adds to `fields` the fields of `set` that apply to `root`, fragments walked as
/// async-graphql walks them. `false` when a field carries a directive (its resolution may be
/// wrapped by one): the caller lets async-graphql resolve the object.
fn collect<'a, T: ContainerType + ?Sized>(
    ctx: &ContextSelectionSet<'a>,
    root: &T,
    set: &'a Positioned<SelectionSet>,
    fields: &mut Vec<&'a Positioned<Field>>,
) -> ServerResult<bool> {
    for selection in &set.node.items {
        let (condition, set) = match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return Ok(false);
                }
                fields.push(field);
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let Some(fragment) = ctx.query_env.fragments.get(name) else {
                    return Err(ServerError::new(
                        format!(r#"Unknown fragment "{name}"."#),
                        Some(spread.pos),
                    ));
                };
                (
                    Some(&fragment.node.type_condition),
                    &fragment.node.selection_set,
                )
            }
            Selection::InlineFragment(fragment) => (
                fragment.node.type_condition.as_ref(),
                &fragment.node.selection_set,
            ),
        };
        let applies = match condition.map(|c| c.node.on.node.as_str()) {
            None => true,
            Some(condition) => {
                let concrete = root.introspection_type_name();
                concrete == condition
                    || T::type_name() == condition
                    || ctx
                        .schema_env
                        .registry
                        .implements
                        .get(&*concrete)
                        .is_some_and(|interfaces| interfaces.contains(condition))
            }
        };
        if applies && !collect(ctx, root, set, fields)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Puts `value` under `name`, merging it into the value already there as async-graphql does
/// (the same response key asked twice, with different sub-selections).
fn insert(object: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    let previous = match object.entry(name) {
        Entry::Vacant(entry) => {
            entry.insert(value);
            return;
        }
        Entry::Occupied(entry) => entry.into_mut(),
    };
    match (previous, value) {
        (Value::Object(previous), Value::Object(value)) => {
            for (name, value) in value {
                insert(previous, name, value);
            }
        }
        (Value::List(previous), Value::List(list)) => {
            for (previous, value) in previous.iter_mut().zip(list) {
                if let (Value::Object(previous), Value::Object(value)) = (previous, value) {
                    for (name, value) in value {
                        insert(previous, name, value);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::DocumentOperations;

    use super::*;

    fn items(query: &str) -> Vec<Positioned<Selection>> {
        let document = parse_query(query).expect("parse");
        let DocumentOperations::Single(operation) = document.operations else {
            panic!("one operation");
        };
        operation.node.selection_set.node.items
    }

    #[test]
    fn a_few_fields_alone_are_resolved_from_the_stack_in_order() {
        let selection = items("{ a b: c d }");
        let (fields, count) = plain_fields(&selection).expect("fields alone");
        let keys: Vec<_> = fields[..count]
            .iter()
            .map(|f| f.node.response_key().node.to_string())
            .collect();
        assert_eq!(keys, ["a", "b", "d"]);
        // A fragment, a directive, more fields than the array holds, no field: gathered.
        let many = format!(
            "{{ {} }}",
            (0..=PLAIN)
                .map(|i| format!("f{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        for query in [
            "{ a ...F } fragment F on Q { b }",
            "{ a @skip(if: true) b }",
            &many,
        ] {
            assert!(plain_fields(&items(query)).is_none(), "{query}");
        }
        assert!(plain_fields(&[]).is_none());
    }
}
