//! Quota Sentinel: a self-hosted, OpenAI-compatible gateway that meters every call per
//! workspace, enforces limits and budgets, and alerts people in real time.
//!
//! # Layout
//! One request's way: [`api`] routes `/v1/*` to [`proxy`], which authenticates the workspace
//! ([`registry`]), asks the pure [`quota`] core to admit the call's worst case, forwards it with
//! the key swapped, streams the answer back while reading its usage, prices it ([`pricing`]),
//! settles the reservation and feeds upstream signals to the status engine; status transitions
//! become notifications that [`store`] persists and [`alerts`] fans out to WebSockets and
//! delivers, through an outbox, to alert channels (webhook, Slack, email).
//!
//! | module | owns | must not |
//! |---|---|---|
//! | [`config`] | TOML + env + flags → validated [`config::Config`]; masked secrets; the one check of an alert channel (file and admin API); Go durations | read files after start |
//! | [`quota`] | windows, reservations, limits, status machine, notices, alert rules (thresholds once per period, back under, burn-rate forecast) — pure, `now` passed in | do IO, read clocks, format text |
//! | [`registry`] | live workspaces, key index, account state, the admin's live edits, the account-wide budget; transitions and alerts → store + hub | do IO or format text (beyond the locale-neutral local `HH:MM` of a period's reset) |
//! | [`proxy`] | the request's way in ([`proxy::Proxy::forward`]) and the answer's way back: the one table of API families ([`proxy::family`]: how each reserves, streams and shows its usage), request inspection, the stream tap, usage extraction, settlement, upstream signals — one job a file | decide policy |
//! | [`pricing`] | the shipped price table + overrides → cost of a usage | guess a price |
//! | [`state`] | the state several instances share through Redis: the admission, settlement and seed scripts (one round trip each), reservation ids, whether Redis answers | decide a limit, hold a lock across a call |
//! | [`store`] | the SQLite or PostgreSQL pool (one sqlx `Any` pool, migrations per engine), batched ledger writer, notifications queued but not yet written (listed from memory), the alert outbox (rows written with their notification, leases, delivery log) and stored channels, the alerts raised so far, the audit trail, the admin's limit edits, counter rebuild, roll-ups | block the hot path |
//! | [`alerts`] | per-workspace broadcast hub; the alert channels in force (file + admin API) and the delivery worker: claim due outbox rows, render, send (webhook, Slack, email), back off, give up, record | drop a lagging subscriber, use the registry, log or return a secret, send a row it has not leased |
//! | [`api`] | REST, WebSocket, admin (workspaces, live edits, keys, channels, the audit trail and who the admin is), metrics, health; browser sessions, the first-run setup link, cross-origin checks, security headers | hold business rules, answer an admin change before it is audited |
//! | [`headers`] | bearer token and cookie parsing | judge credentials |
//! | [`guard`] | abuse limits: per-address auth-failure budget, per-workspace caps on calls in flight, buffered bytes, WebSockets | read keys, format client text |
//! | [`error`] | [`error::AppError`] → OpenAI-shaped JSON, in one place | log |
//! | [`loglimit`] | the per-second budget of rate-limited log lines | read clocks or write logs |
//! | [`model`] | the records several layers share: status view, stored notification and status change, a call's usage | do anything but hold data |
//! | [`i18n`] | rendering notification keys per locale (bundles in `app::i18n`) | live anywhere else |
//! | [`simulator`] | an OpenAI-compatible upstream for tests, demo and benchmarks | be used by the proxy |
//! | [`demo`] | `quota-sentinel demo`: simulator + gateway + scripted traffic through every status | run outside `demo` |
//! | [`conn`] | accepting connections: caps (in all, per address), header/idle and body-idle timeouts, the open-file limit, HTTP/1.1 serving | know routes or keys |
//! | [`server`] | wiring, serving threads (one runtime and listener per core), background tasks, graceful shutdown | hold logic worth testing alone |
//! | [`ui_backend`] | the web UI's server-rendered data (`app::data::Backend`) | decide access beyond the API's rules |
//!
//! ## Dependencies point one way
//! A module may use only the modules on its row (every module may use the shared [`types`]).
//! The test `layers::every_module_respects_the_graph` reads this table and every `crate::`
//! path in `src/` and fails on an import against it: a type two layers need moves down (to
//! [`model`] or [`quota`]), never up.
//!
//! | module | may use |
//! |---|---|
//! | `quota` | — |
//! | `model` | `quota` |
//! | `headers` | — |
//! | `loglimit` | — |
//! | `conn` | — |
//! | `simulator` | — |
//! | `pricing` | `model` |
//! | `i18n` | `model`, `quota` |
//! | `store` | `model`, `quota` |
//! | `state` | `quota` |
//! | `alerts` | `config`, `i18n`, `model`, `store` |
//! | `error` | `i18n`, `store` |
//! | `guard` | `error`, `loglimit` |
//! | `config` | `conn`, `guard`, `pricing`, `quota`, `model`, `store` |
//! | `registry` | `alerts`, `guard`, `model`, `quota`, `store` |
//! | `proxy` | `config`, `error`, `guard`, `headers`, `loglimit`, `model`, `pricing`, `quota`, `registry`, `state`, `store` |
//! | `api` | `alerts`, `config`, `error`, `guard`, `headers`, `i18n`, `loglimit`, `model`, `proxy`, `quota`, `registry`, `state`, `store` |
//! | `ui_backend` | `api`, `error`, `i18n`, `model`, `quota`, `store` |
//! | `server` | every module but `demo` |
//! | `demo` | `config`, `registry`, `server`, `simulator` |
//!
//! The types of the API and the WebSocket are in the shared `app` crate, re-exported as
//! [`types`]; `main.rs` holds only the CLI.

// Leptos view types nest deeply when the server renders the app.
#![recursion_limit = "256"]

pub use app::types;

pub mod alerts;
pub mod api;
pub mod config;
pub mod conn;
pub mod demo;
pub mod error;
pub mod guard;
pub mod headers;
pub mod i18n;
pub mod loglimit;
pub mod model;
pub mod pricing;
pub mod proxy;
pub mod quota;
pub mod registry;
pub mod server;
pub mod simulator;
pub mod state;
pub mod store;
pub mod ui_backend;

#[cfg(test)]
mod layers;
