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
        let mut fields = Vec::with_capacity(ctx.item.node.items.len());
        if !ctx.data_opt::<InlineObjects>().is_some_and(|on| on.0)
            || !collect(ctx, &self.0, ctx.item, &mut fields)?
        {
            return resolve_container(ctx, &self.0).await;
        }
        let ctx = ctx.clone();
        let contexts: Vec<_> = fields.iter().map(|f| ctx.with_field(f)).collect();
        let values = join_all(contexts.iter().map(|c| {
            let name = &c.item.node.name.node;
            async move {
                if name == "__typename" {
                    Ok(Some(Value::String(self.0.introspection_type_name().into())))
                } else {
                    self.0.resolve_field(c).await
                }
            }
        }))
        .await;
        let mut object = IndexMap::with_capacity(fields.len());
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
