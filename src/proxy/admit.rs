//! Admission: what a call reserves before it is forwarded (its family's
//! [`Reserve`](crate::proxy::family::Reserve) rule, priced at the model's worst case), asked of
//! the registry, which admits it against the workspace's limits (at its priority class's share,
//! `X-Quota-Priority`) or refuses it.
//!
//! Owns: the call's [`Demand`]. Must not: decide whether it fits (that is `crate::quota`, through
//! `crate::registry`), or run the tokenizer (the prompt is estimated from the body's size).

use chrono::Utc;

use crate::error::AppError;
use crate::proxy::estimate;
use crate::proxy::family::{FamilyKind, Reserve};
use crate::proxy::inspect::RequestInfo;
use crate::proxy::request::Seen;
use crate::proxy::shared::SharedCall;
use crate::proxy::{Proxy, DEFAULT_OUTPUT_RESERVE};
use crate::quota::{Demand, Reservation};
use crate::registry::Caller;
use crate::types::Priority;

impl Proxy {
    /// Reserves the call's worst case in its workspace, or refuses it with the limit it would
    /// pass (counted in `qs_refused_total`).
    /// With shared state (`[redis]`), Redis decides ([`Proxy::admit_shared`]) and the call
    /// carries its shared reservation too.
    pub(super) async fn reserve(
        &self,
        caller: &Caller,
        kind: FamilyKind,
        request: &Seen,
        priority: Option<Priority>,
    ) -> Result<(Reservation, Option<SharedCall>), AppError> {
        let demand = self.demand(kind, &request.info, &request.json);
        let verdict = match &self.state {
            None => self
                .registry
                .admit(&caller.workspace, demand, priority, Utc::now())
                .map(|r| (r, None)),
            Some(state) => self.admit_shared(state, caller, demand, priority).await?,
        };
        verdict.map_err(|r| {
                let workspace = caller.workspace.id.to_string();
                match r.priority {
                    None => {
                        metrics::counter!("qs_refused_total", "workspace" => workspace.clone(), "limit" => r.limit.as_str()).increment(1);
                        AppError::QuotaExceeded {
                            workspace,
                            limit: r.limit,
                            limit_value: r.limit_value,
                            used: r.used,
                            retry_after_secs: r.retry_after_secs,
                        }
                    }
                    Some((priority, share)) => {
                        metrics::counter!("qs_shed_total", "workspace" => workspace.clone(), "limit" => r.limit.as_str(), "priority" => priority.as_str()).increment(1);
                        AppError::PriorityShed {
                            workspace,
                            priority,
                            share,
                            limit: r.limit,
                            limit_value: r.limit_value,
                            used: r.used,
                            retry_after_secs: r.retry_after_secs,
                        }
                    }
                }
            })
    }

    /// The tokens and the worst-case cost a call of `kind` reserves.
    fn demand(&self, kind: FamilyKind, info: &RequestInfo, body: &[u8]) -> Demand {
        let reserve = kind.spec().reserve;
        let input = match reserve {
            Reserve::Prompt | Reserve::PromptAndOutput => estimate::estimate_prompt_tokens(body),
            Reserve::Nothing => 0,
        };
        let output = match reserve {
            Reserve::PromptAndOutput => {
                info.max_output_tokens.unwrap_or(DEFAULT_OUTPUT_RESERVE) * info.n.max(1)
            }
            Reserve::Prompt | Reserve::Nothing => 0,
        };
        let cost_nanos = self
            .prices
            .worst_case_nanos(info.model.as_deref(), input, output);
        Demand {
            tokens: input + output,
            cost_nanos,
        }
    }
}
