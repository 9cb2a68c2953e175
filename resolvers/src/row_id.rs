//! A row's id as the API's `ID` scalar, written when a response asks for it.
//!
//! Objects a response holds many of kept their id as an `ID`, a string made from the row's
//! integer for every object read, whether the query asked for `id` or not: for the nested
//! query, 138 strings formatted and allocated, then dropped, per request, most never sent.
//! [`RowId`] keeps the integer and is the same `ID` in the schema (its type information is
//! `ID`'s own), formatted only when resolved.
use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, ID, OutputType, Positioned, ServerResult, Value};

/// A row's integer id, sent as `ID` (see the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowId(pub i64);

impl OutputType for RowId {
    fn type_name() -> Cow<'static, str> {
        <ID as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <ID as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        Ok(Value::String(self.0.to_string()))
    }
}
