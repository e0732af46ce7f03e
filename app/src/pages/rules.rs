//! A workspace's alert rules, edited by the admin on its detail page: the thresholds (as
//! percentages) and which limits only warn. Saved with `PATCH /api/admin/workspaces/{id}`; the
//! change applies at once and the page's live status shows it.

use leptos::prelude::*;

use crate::tr::use_tr;
use crate::types::{LimitKind, Limits, DEFAULT_ALERT_THRESHOLDS, MAX_ALERT_THRESHOLDS};

/// `"50, 80, 95, 100"` → `[0.5, 0.8, 0.95, 1.0]`; `None` if a value is not a percentage in
/// (0, 100] or there are too many. Empty text is no thresholds.
pub fn parse_thresholds(text: &str) -> Option<Vec<f64>> {
    let mut out = Vec::new();
    for part in text.split([',', ';', ' ']).filter(|p| !p.trim().is_empty()) {
        let v: f64 = part.trim().trim_end_matches('%').trim().parse().ok()?;
        if !(v > 0.0 && v <= 100.0) {
            return None;
        }
        out.push(v / 100.0);
    }
    (out.len() <= MAX_ALERT_THRESHOLDS).then_some(out)
}

/// The thresholds as the form shows them: `50, 80, 95, 100`.
pub fn format_thresholds(t: &[f64]) -> String {
    t.iter()
        .map(|v| format!("{}", (v * 10_000.0).round() / 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

#[component]
pub fn AlertRulesForm(workspace: String, limits: Limits) -> impl IntoView {
    let tr = use_tr();
    let thresholds = RwSignal::new(format_thresholds(
        limits
            .alert_thresholds
            .as_deref()
            .unwrap_or(&DEFAULT_ALERT_THRESHOLDS),
    ));
    let soft: Vec<(LimitKind, RwSignal<bool>)> = LimitKind::ALL
        .into_iter()
        .map(|k| (k, RwSignal::new(limits.is_soft(k))))
        .collect();
    let soft = StoredValue::new(soft);
    let outcome = RwSignal::new(None::<(bool, String)>);
    let ws = StoredValue::new(workspace);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(t) = parse_thresholds(&thresholds.get_untracked()) else {
            outcome.set(Some((false, tr.t("rules-invalid-thresholds"))));
            return;
        };
        let soft_limits: Vec<&str> = soft.with_value(|s| {
            s.iter()
                .filter(|(_, on)| on.get_untracked())
                .map(|(k, _)| k.as_str())
                .collect()
        });
        let body = serde_json::json!({ "alert_thresholds": t, "soft_limits": soft_limits });
        #[cfg(not(feature = "ssr"))]
        leptos::task::spawn_local(async move {
            let url = format!(
                "/api/admin/workspaces/{}",
                crate::data::browser::enc(&ws.get_value())
            );
            match crate::data::browser::send_json("PATCH", &url, &body).await {
                Ok((200, _)) => outcome.set(Some((true, tr.t("rules-saved")))),
                Ok((_, text)) => {
                    let message = serde_json::from_str::<crate::types::ErrorBody>(&text)
                        .map(|e| e.error.message)
                        .unwrap_or_default();
                    outcome.set(Some((false, format!("{} {message}", tr.t("rules-failed")))));
                }
                Err(_) => outcome.set(Some((false, tr.t("rules-failed")))),
            }
        });
        #[cfg(feature = "ssr")]
        let _ = (body, ws);
    };
    let boxes = soft.with_value(|s| {
        s.iter()
            .map(|(k, on)| {
                let on = *on;
                let id = format!("soft-{}", k.as_str());
                let (for_id, testid) = (id.clone(), id.clone());
                view! {
                    <label class="check" for=for_id>
                        <input type="checkbox" id=id data-testid=testid
                            prop:checked=move || on.get() on:change=move |ev| on.set(event_target_checked(&ev))/>
                        {tr.t(&format!("usage-label-{}", k.as_str()))}
                    </label>
                }
            })
            .collect_view()
    });
    view! {
        <form class="rules" data-testid="alert-rules" on:submit=save>
            <label for="thresholds">{tr.t("rules-thresholds")}</label>
            <input id="thresholds" type="text" inputmode="decimal" data-testid="thresholds"
                prop:value=move || thresholds.get() on:input=move |ev| thresholds.set(event_target_value(&ev))/>
            <p class="muted">{tr.t("rules-thresholds-help")}</p>
            <fieldset>
                <legend>{tr.t("rules-soft")}</legend>
                {boxes}
            </fieldset>
            <button class="button" type="submit" data-testid="rules-save">{tr.t("rules-save")}</button>
            {move || outcome.get().map(|(ok, text)| view! {
                <p class=if ok { "reset-outcome ok" } else { "reset-outcome failed" } role="status" data-testid="rules-outcome">{text}</p>
            })}
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_as_percentages() {
        assert_eq!(
            parse_thresholds("50, 80,95 100%"),
            Some(vec![0.5, 0.8, 0.95, 1.0])
        );
        assert_eq!(parse_thresholds(""), Some(vec![]));
        assert_eq!(parse_thresholds("0"), None);
        assert_eq!(parse_thresholds("120"), None);
        assert_eq!(parse_thresholds("eighty"), None);
        assert_eq!(parse_thresholds(&"5,".repeat(11)), None);
        assert_eq!(format_thresholds(&[0.5, 0.955, 1.0]), "50, 95.5, 100");
    }
}
