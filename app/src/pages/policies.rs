//! A workspace's limits and policies, edited by the admin on its detail page: the six limits,
//! the warning level, the priority shares, the model downgrade rules, the upstream retries and
//! the daily and monthly reset times. The form is prefilled with the limits in force; what the
//! admin changes is checked in the browser by the server's own rules
//! ([`crate::logic::policy`]) and, if it passes, saved with `PATCH /api/admin/workspaces/{id}`.
//! The change applies at once: the answer (the workspace's new status) is shown right away,
//! and the form is filled again from it, so the form and the page's limits agree.

use leptos::prelude::*;

use crate::logic::policy::{label_key, PolicyText, RuleText};
use crate::monitor::QuotaMonitor;
use crate::tr::{use_tr, Tr};
use crate::types::{ArgValue, LimitKind, Limits};

/// The outcome line under the form.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// Only the browser saves.
    #[cfg_attr(feature = "ssr", allow(dead_code))]
    Saved,
    /// The field at fault (if known) and the message.
    Refused(Option<&'static str>, String),
}

/// A downgrade rule's row: an id that keys it in the list, and its text.
type Row = (u32, RuleText);

/// The form's fields as signals.
#[derive(Clone, Copy)]
struct Fields {
    limits: [RwSignal<String>; LimitKind::COUNT],
    warning_at: RwSignal<String>,
    optional_share: RwSignal<String>,
    normal_share: RwSignal<String>,
    rows: RwSignal<Vec<Row>>,
    next_row: StoredValue<u32>,
    upstream_retries: RwSignal<String>,
    reset_daily_at: RwSignal<String>,
    reset_monthly_on: RwSignal<String>,
}

impl Fields {
    fn new(t: &PolicyText) -> Fields {
        let f = Fields {
            limits: std::array::from_fn(|_| RwSignal::new(String::new())),
            warning_at: RwSignal::new(String::new()),
            optional_share: RwSignal::new(String::new()),
            normal_share: RwSignal::new(String::new()),
            rows: RwSignal::new(Vec::new()),
            next_row: StoredValue::new(0),
            upstream_retries: RwSignal::new(String::new()),
            reset_daily_at: RwSignal::new(String::new()),
            reset_monthly_on: RwSignal::new(String::new()),
        };
        f.load(t);
        f
    }

    /// Shows `t` in every field.
    fn load(self, t: &PolicyText) {
        for (signal, text) in self.limits.iter().zip(&t.limits) {
            signal.set(text.clone());
        }
        self.warning_at.set(t.warning_at.clone());
        self.optional_share.set(t.optional_share.clone());
        self.normal_share.set(t.normal_share.clone());
        let rows: Vec<Row> = t
            .downgrade
            .iter()
            .map(|r| (self.row_id(), r.clone()))
            .collect();
        self.rows.set(rows);
        self.upstream_retries.set(t.upstream_retries.clone());
        self.reset_daily_at.set(t.reset_daily_at.clone());
        self.reset_monthly_on.set(t.reset_monthly_on.clone());
    }

    fn row_id(self) -> u32 {
        let id = self.next_row.get_value();
        self.next_row.set_value(id.wrapping_add(1));
        id
    }

    /// The fields as typed.
    fn read(self) -> PolicyText {
        PolicyText {
            limits: self.limits.map(|s| s.get_untracked()),
            warning_at: self.warning_at.get_untracked(),
            optional_share: self.optional_share.get_untracked(),
            normal_share: self.normal_share.get_untracked(),
            downgrade: self
                .rows
                .get_untracked()
                .into_iter()
                .map(|(_, r)| r)
                .collect(),
            upstream_retries: self.upstream_retries.get_untracked(),
            reset_daily_at: self.reset_daily_at.get_untracked(),
            reset_monthly_on: self.reset_monthly_on.get_untracked(),
        }
    }

    fn edit_row(self, id: u32, f: impl FnOnce(&mut RuleText)) {
        self.rows.update(|rows| {
            if let Some((_, r)) = rows.iter_mut().find(|(i, _)| *i == id) {
                f(r);
            }
        });
    }
}

/// "Label: rule", in the reader's language; the rule alone for a field the form does not show.
fn refusal(tr: Tr, field: &str, rule_key: &str) -> String {
    let rule = tr.t(rule_key);
    match label_key(field) {
        Some(label) => tr.ta(
            "policies-invalid",
            &[
                ("field", ArgValue::Text(tr.t(&label))),
                ("rule", ArgValue::Text(rule)),
            ],
        ),
        None => rule,
    }
}

/// The message of a PATCH the server refused: its `param` names the field, whose rule is shown
/// in the reader's language; otherwise "Not saved." and the server's own words.
#[cfg(not(feature = "ssr"))]
fn server_refusal(tr: Tr, body: &str) -> (Option<&'static str>, String) {
    let error = serde_json::from_str::<crate::types::ErrorBody>(body).ok();
    let param = error.as_ref().and_then(|e| e.error.param.clone());
    let known = param.as_deref().and_then(|p| {
        let key = crate::logic::policy::rule_key_of_param(p)?;
        let field = crate::logic::policy::LIMIT_ERRORS
            .iter()
            .map(|e| e.field())
            .find(|f| *f == p)?;
        Some((field, key))
    });
    match known {
        Some((field, key)) => (Some(field), refusal(tr, field, &key)),
        None => {
            let message = error.map(|e| e.error.message).unwrap_or_default();
            (None, format!("{} {message}", tr.t("policies-failed")))
        }
    }
}

/// One labelled text field of the form: `name` makes its id and test id (`policy-{name}`),
/// `field` is the API field it belongs to (marked invalid when a refusal names it).
struct TextField {
    name: &'static str,
    field: &'static str,
    label: String,
    inputmode: &'static str,
    placeholder: Option<String>,
}

impl TextField {
    fn new(name: &'static str, label: String, inputmode: &'static str) -> TextField {
        TextField {
            name,
            field: name,
            label,
            inputmode,
            placeholder: None,
        }
    }

    fn view(self, value: RwSignal<String>, invalid: Signal<Option<&'static str>>) -> impl IntoView {
        let id = format!("policy-{}", self.name);
        let field = self.field;
        view! {
            <div class="policy-field">
                <label for=id.clone()>{self.label}</label>
                <input id=id.clone() type="text" inputmode=self.inputmode autocomplete="off" data-testid=id
                    placeholder=self.placeholder
                    aria-invalid=move || (invalid.get() == Some(field)).then_some("true")
                    aria-describedby="policies-outcome"
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            </div>
        }
    }
}

#[component]
pub fn PoliciesForm(workspace: String, monitor: QuotaMonitor, initial: Limits) -> impl IntoView {
    let tr = use_tr();
    let in_force = monitor.limits();
    let fields = Fields::new(&PolicyText::from_limits(&initial));
    let outcome = RwSignal::new(None::<Outcome>);
    let saving = RwSignal::new(false);
    let invalid = Signal::derive(move || match outcome.get() {
        Some(Outcome::Refused(field, _)) => field,
        _ => None,
    });
    let ws = StoredValue::new(workspace);
    let initial = StoredValue::new(initial);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        let current = in_force
            .get_untracked()
            .unwrap_or_else(|| initial.get_value());
        let edit = match fields.read().to_edit(&current) {
            Ok(edit) => edit,
            Err(e) => {
                let message = refusal(tr, e.field(), &e.key());
                outcome.set(Some(Outcome::Refused(Some(e.field()), message)));
                return;
            }
        };
        outcome.set(None);
        saving.set(true);
        let body = crate::logic::policy::edit_body(&edit);
        #[cfg(not(feature = "ssr"))]
        leptos::task::spawn_local(async move {
            let url = format!(
                "/api/admin/workspaces/{}",
                crate::data::browser::enc(&ws.get_value())
            );
            let result = crate::data::browser::send_json("PATCH", &url, &body).await;
            saving.set(false);
            match result {
                Ok((200, text)) => {
                    // The new status; were it unreadable, the socket brings it within a second.
                    if let Ok(report) = serde_json::from_str::<crate::types::StatusReport>(&text) {
                        fields.load(&PolicyText::from_limits(&report.limits));
                        monitor.apply_report(report, crate::monitor::clock_ms());
                    }
                    outcome.set(Some(Outcome::Saved));
                }
                Ok((_, text)) => {
                    let (field, message) = server_refusal(tr, &text);
                    outcome.set(Some(Outcome::Refused(field, message)));
                }
                Err(_) => outcome.set(Some(Outcome::Refused(None, tr.t("policies-failed")))),
            }
        });
        #[cfg(feature = "ssr")]
        let _ = (body, ws);
    };
    let limit_inputs = LimitKind::ALL
        .into_iter()
        .zip(fields.limits)
        .map(|(kind, value)| {
            let money = matches!(
                kind,
                LimitKind::BudgetUsdPerDay | LimitKind::BudgetUsdPerMonth
            );
            TextField {
                placeholder: Some(tr.t("policies-no-limit")),
                ..TextField::new(
                    kind.as_str(),
                    tr.t(&format!("policies-limit-{}", kind.as_str())),
                    if money { "decimal" } else { "numeric" },
                )
            }
            .view(value, invalid)
        })
        .collect_view();
    let rows = move || {
        fields
            .rows
            .get()
            .into_iter()
            .map(|(id, _)| id)
            .collect::<Vec<_>>()
    };
    let row_view = move |id: u32| {
        let get = move |f: fn(&RuleText) -> String| {
            move || {
                fields.rows.with(|rows| {
                    rows.iter()
                        .find(|(i, _)| *i == id)
                        .map(|(_, r)| f(r))
                        .unwrap_or_default()
                })
            }
        };
        let bad = move || (invalid.get() == Some("downgrade")).then_some("true");
        view! {
            <div class="downgrade-row" data-testid="downgrade-row">
                <label>
                    <span>{tr.t("policies-downgrade-from")}</span>
                    <input type="text" autocomplete="off" data-testid="downgrade-from" aria-invalid=bad
                        prop:value=get(|r| r.from.clone())
                        on:input=move |ev| fields.edit_row(id, |r| r.from = event_target_value(&ev))/>
                </label>
                <label>
                    <span>{tr.t("policies-downgrade-to")}</span>
                    <input type="text" autocomplete="off" data-testid="downgrade-to" aria-invalid=bad
                        prop:value=get(|r| r.to.clone())
                        on:input=move |ev| fields.edit_row(id, |r| r.to = event_target_value(&ev))/>
                </label>
                <label>
                    <span>{tr.t("policies-downgrade-at")}</span>
                    <input type="text" inputmode="decimal" autocomplete="off" data-testid="downgrade-at" aria-invalid=bad
                        prop:value=get(|r| r.at.clone())
                        on:input=move |ev| fields.edit_row(id, |r| r.at = event_target_value(&ev))/>
                </label>
                <button type="button" class="button secondary small" data-testid="downgrade-remove"
                    on:click=move |_| fields.rows.update(|rows| rows.retain(|(i, _)| *i != id))>
                    {tr.t("policies-downgrade-remove")}
                </button>
            </div>
        }
    };
    let share_field = |name: &'static str, label: &str, default: f64| TextField {
        field: "priority_shares",
        placeholder: Some(crate::logic::policy::format_percent(default)),
        ..TextField::new(name, tr.t(label), "decimal")
    };
    let warning_at = TextField::new("warning_at", tr.t("policies-warning_at"), "decimal");
    let optional_share = share_field(
        "optional_share",
        "policies-share-optional",
        initial.with_value(|l| l.warning_at),
    );
    let normal_share = share_field(
        "normal_share",
        "policies-share-normal",
        crate::types::DEFAULT_NORMAL_SHARE,
    );
    let retries = TextField::new(
        "upstream_retries",
        tr.t("policies-upstream_retries"),
        "numeric",
    );
    let daily = TextField {
        placeholder: Some("HH:MM".to_string()),
        ..TextField::new("reset_daily_at", tr.t("policies-reset_daily_at"), "text")
    };
    let monthly = TextField::new(
        "reset_monthly_on",
        tr.t("policies-reset_monthly_on"),
        "numeric",
    );
    view! {
        <form class="rules policies" data-testid="policies" on:submit=save novalidate=true>
            <p class="muted">{tr.t("policies-intro")}</p>
            <fieldset>
                <legend>{tr.t("policies-limits")}</legend>
                <div class="policy-grid">
                    {limit_inputs}
                    {warning_at.view(fields.warning_at, invalid)}
                </div>
            </fieldset>
            <fieldset>
                <legend>{tr.t("policies-priority_shares")}</legend>
                <div class="policy-grid">
                    {optional_share.view(fields.optional_share, invalid)}
                    {normal_share.view(fields.normal_share, invalid)}
                </div>
                <p class="muted small">{tr.t("policies-shares-help")}</p>
            </fieldset>
            <fieldset>
                <legend>{tr.t("policies-downgrade")}</legend>
                <p class="muted small">{tr.t("policies-downgrade-help")}</p>
                <For each=rows key=|id| *id let:id>
                    {row_view(id)}
                </For>
                {move || fields.rows.with(|r| r.is_empty()).then(|| view! {
                    <p class="muted" data-testid="downgrade-empty">{tr.t("policies-downgrade-empty")}</p>
                })}
                <button type="button" class="button secondary small" data-testid="downgrade-add"
                    on:click=move |_| {
                        let id = fields.row_id();
                        fields.rows.update(|rows| rows.push((id, RuleText::default())));
                    }>
                    {tr.t("policies-downgrade-add")}
                </button>
            </fieldset>
            <fieldset>
                <legend>{tr.t("policies-resets-retries")}</legend>
                <div class="policy-grid">
                    {daily.view(fields.reset_daily_at, invalid)}
                    {monthly.view(fields.reset_monthly_on, invalid)}
                    {retries.view(fields.upstream_retries, invalid)}
                </div>
                <p class="muted small">{tr.t("policies-reset-help")}</p>
            </fieldset>
            <p id="policies-outcome" role="status" data-testid="policies-outcome"
                data-state=move || match outcome.get() {
                    Some(Outcome::Saved) => "saved",
                    Some(Outcome::Refused(..)) => "refused",
                    None => "",
                }
                class=move || match outcome.get() {
                    Some(Outcome::Saved) => "reset-outcome ok",
                    Some(Outcome::Refused(..)) => "reset-outcome failed",
                    None => "reset-outcome",
                }>
                {move || match outcome.get() {
                    Some(Outcome::Saved) => tr.t("policies-saved"),
                    Some(Outcome::Refused(_, message)) => message,
                    None => String::new(),
                }}
            </p>
            <button class="button" type="submit" data-testid="policies-save" disabled=move || saving.get()>
                {move || if saving.get() { tr.t("policies-saving") } else { tr.t("policies-save") }}
            </button>
        </form>
    }
}
