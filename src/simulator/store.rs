//! In-memory objects the stateful endpoints create (files, assistants,
//! threads, runs, vector stores, batches) and OpenAI's cursor-list shape.
//! Lives behind one `std::sync::Mutex` in the simulator; never held across
//! an `.await`. Nothing on the chat/responses hot path touches it.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

use super::tokens::ReplyPlan;
use super::wire::{deleted, first_value, json, query_pairs, ApiError};

/// A collection keeping insertion (= creation) order.
pub(crate) struct Coll<T> {
    order: Vec<String>,
    map: HashMap<String, T>,
}

impl<T> Default for Coll<T> {
    fn default() -> Self {
        Self {
            order: Vec::new(),
            map: HashMap::new(),
        }
    }
}

impl<T> Coll<T> {
    pub(crate) fn insert(&mut self, id: String, value: T) {
        if self.map.insert(id.clone(), value).is_none() {
            self.order.push(id);
        }
    }
    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        self.map.get(id)
    }
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.map.get_mut(id)
    }
    pub(crate) fn remove(&mut self, id: &str) -> Option<T> {
        let v = self.map.remove(id)?;
        self.order.retain(|x| x != id);
        Some(v)
    }
    /// Values oldest first.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.order.iter().filter_map(|id| self.map.get(id))
    }
}

impl<T> Coll<T> {
    /// Removes object `id` and answers the `DELETE` with `object` (`"assistant.deleted"`, …);
    /// 404 `No <kind> found with id …` when there is none.
    pub(crate) fn delete(
        &mut self,
        id: &str,
        kind: &str,
        object: &str,
    ) -> Result<Response, ApiError> {
        self.remove(id)
            .ok_or_else(|| ApiError::no_object(kind, id))?;
        Ok(deleted(id, object))
    }
}

impl<T: Stored> Coll<T> {
    /// A 200 answer holding the list page of these objects that `query` asks for (see
    /// [`list_response`]).
    pub(crate) fn list(&self, query: Option<&str>) -> Response {
        list_response(self.values().map(|v| v.obj().clone()), query)
    }
}

/// A stored object kept as the JSON the API shows.
pub(crate) trait Stored {
    fn obj(&self) -> &Value;
}

impl Stored for Value {
    fn obj(&self) -> &Value {
        self
    }
}

impl Stored for VsRec {
    fn obj(&self) -> &Value {
        &self.obj
    }
}

impl Stored for BatchRec {
    fn obj(&self) -> &Value {
        &self.obj
    }
}

pub(crate) struct FileRec {
    pub id: String,
    pub filename: String,
    pub purpose: String,
    pub bytes: u64,
    pub created_at: u64,
    /// Kept for uploads up to [`super::files::KEEP_FILE_BYTES`]; larger ones
    /// are served back as zero bytes of the same length.
    pub content: Option<Bytes>,
}

impl FileRec {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "object": "file",
            "id": self.id,
            "purpose": self.purpose,
            "filename": self.filename,
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": null,
            "status": "processed",
            "status_details": null,
        })
    }
}

pub(crate) struct ThreadRec {
    pub obj: Value,
    pub messages: Vec<Value>,
}

pub(crate) struct RunRec {
    pub obj: Value,
    pub retrieves: u32,
    pub prompt_tokens: u64,
    pub reply: ReplyPlan,
    /// Usage already counted in `tokens_reported`.
    pub reported: bool,
}

pub(crate) struct VsRec {
    pub obj: Value,
    pub files: Coll<Value>,
}

pub(crate) struct BatchRec {
    pub obj: Value,
    pub gets: u32,
}

#[derive(Default)]
pub(crate) struct Store {
    pub files: Coll<FileRec>,
    pub assistants: Coll<Value>,
    pub threads: Coll<ThreadRec>,
    pub runs: Coll<RunRec>,
    pub vector_stores: Coll<VsRec>,
    pub batches: Coll<BatchRec>,
}

impl Store {
    /// Thread `id`, or 404 when there is none.
    pub(crate) fn thread(&self, id: &str) -> Result<&ThreadRec, ApiError> {
        self.threads
            .get(id)
            .ok_or_else(|| ApiError::no_object("thread", id))
    }

    /// [`Store::thread`], to change.
    pub(crate) fn thread_mut(&mut self, id: &str) -> Result<&mut ThreadRec, ApiError> {
        self.threads
            .get_mut(id)
            .ok_or_else(|| ApiError::no_object("thread", id))
    }
}

/// A 200 answer holding the list page of `items` (oldest first) that `query` asks for, with
/// the limits most list endpoints have: 20 a page unless asked, at most 100.
pub(crate) fn list_response(
    items: impl IntoIterator<Item = Value>,
    query: Option<&str>,
) -> Response {
    json(
        StatusCode::OK,
        &list_page(items.into_iter().collect(), query, 20, 100),
    )
}

/// OpenAI's list page: `limit` (default `default_limit`, max `max_limit`),
/// `order` (`desc` default) and `after`/`before` cursors over `items`
/// (oldest first, each with an `id`).
pub(crate) fn list_page(
    items: Vec<Value>,
    query: Option<&str>,
    default_limit: usize,
    max_limit: usize,
) -> Value {
    let q = query_pairs(query);
    let get = |k: &str| first_value(&q, k);
    let limit = get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(default_limit)
        .clamp(1, max_limit);
    let mut items = items;
    if get("order") != Some("asc") {
        items.reverse();
    }
    let id_of = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_owned);
    if let Some(after) = get("after") {
        if let Some(pos) = items
            .iter()
            .position(|v| id_of(v).as_deref() == Some(after))
        {
            items.drain(..=pos);
        }
    }
    if let Some(before) = get("before") {
        if let Some(pos) = items
            .iter()
            .position(|v| id_of(v).as_deref() == Some(before))
        {
            items.truncate(pos);
        }
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    let first_id = items.first().and_then(id_of);
    let last_id = items.last().and_then(id_of);
    json!({
        "object": "list",
        "data": items,
        "first_id": first_id,
        "last_id": last_id,
        "has_more": has_more,
    })
}
