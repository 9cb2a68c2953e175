//! What a field's selection asks for, worked out once per request for each field of the
//! document rather than once per object of a list.
//!
//! The relations of a page's nodes (a mission's `organization`, `publisher` and `addresses`,
//! an organization's `missions`) each read the columns their selection needs, which a walk of
//! the selection tells (fragments and `@skip`/`@include` included; each walk allocates its
//! iterators). Every node of a list is resolved under the same field of the document, so the
//! walk gives each the same answer: twenty missions walked the same four selections twenty
//! times (some 200 of a nested page's 3,500 allocations, docs/BENCHMARKS.md). [`Selections`],
//! one per request, keeps each answer, keyed by the field's place in the document (which lives
//! as long as the request) and by what was worked out.
use std::any::{Any, TypeId};
use std::sync::{Mutex, PoisonError};

use async_graphql::{Context, SelectionField};

use crate::batch::FastMap;

/// The answers worked out from the request's fields' selections (see the module): request
/// data, given by `passerelle_schema::prepare`.
#[derive(Default)]
pub struct Selections(Mutex<FastMap<(usize, TypeId), Box<dyn Any + Send + Sync>>>);

impl std::fmt::Debug for Selections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selections").finish_non_exhaustive()
    }
}

/// `of` the field being resolved, worked out the first time the request resolves that field
/// of its document and kept for the others (each function keeps its own answers). `of` must
/// depend on the field alone (its arguments, its selection): the field's parent object is not
/// part of the key. Without [`Selections`] in the request, worked out every time.
pub(crate) fn of_field<T, F>(ctx: &Context<'_>, of: F) -> T
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce(SelectionField<'_>) -> T + 'static,
{
    let Some(kept) = ctx.data_opt::<Selections>() else {
        return of(ctx.field());
    };
    let key = (std::ptr::from_ref(ctx.item) as usize, TypeId::of::<F>());
    let known = kept
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .and_then(|v| v.downcast_ref::<T>())
        .cloned();
    if let Some(known) = known {
        return known;
    }
    let worked_out = of(ctx.field());
    kept.0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, Box::new(worked_out.clone()));
    worked_out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};

    use super::*;

    static WALKS: AtomicUsize = AtomicUsize::new(0);

    /// The names a field's selection asks for, counting the walks.
    fn names(field: SelectionField<'_>) -> Vec<String> {
        WALKS.fetch_add(1, Ordering::SeqCst);
        field.selection_set().map(|f| f.name().to_owned()).collect()
    }

    /// The names the `asked` field's selection holds, as the walk told them.
    struct Asked(Vec<String>);

    #[Object]
    impl Asked {
        async fn a(&self) -> i32 {
            1
        }
        async fn b(&self) -> i32 {
            2
        }
        async fn names(&self) -> &[String] {
            &self.0
        }
    }

    struct Item;

    #[Object]
    impl Item {
        async fn asked(&self, ctx: &Context<'_>) -> Asked {
            Asked(of_field(ctx, names))
        }
    }

    struct Query;

    #[Object]
    impl Query {
        async fn items(&self) -> Vec<Item> {
            (0..5).map(|_| Item).collect()
        }
    }

    /// Runs `query`, with [`Selections`] or not, and gives its data and the walks it made.
    async fn run(query: &str, kept: bool) -> (serde_json::Value, usize) {
        // The tests of this module run one at a time on the counter.
        static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = ONE_AT_A_TIME.lock().await;
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let mut request = Request::new(query);
        if kept {
            request = request.data(Selections::default());
        }
        WALKS.store(0, Ordering::SeqCst);
        let response = schema.execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().expect("json");
        (data, WALKS.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_fields_selection_is_walked_once_for_every_item_of_a_list() {
        let query = "{ items { asked { a b names } } }";
        let (kept, walks) = run(query, true).await;
        assert_eq!(walks, 1);
        let (each, walks) = run(query, false).await;
        assert_eq!(walks, 5);
        assert_eq!(kept, each);
        assert_eq!(
            kept["items"][4]["asked"]["names"],
            serde_json::json!(["a", "b", "names"])
        );
    }

    #[tokio::test]
    async fn two_fields_of_the_document_keep_their_own_answers() {
        // The same field twice under aliases, with different selections: each has its own.
        let query = "{ items { x: asked { names } y: asked { b names } } }";
        let (data, walks) = run(query, true).await;
        assert_eq!(walks, 2);
        for item in data["items"].as_array().expect("items") {
            assert_eq!(item["x"]["names"], serde_json::json!(["names"]));
            assert_eq!(item["y"]["names"], serde_json::json!(["b", "names"]));
        }
    }
}
