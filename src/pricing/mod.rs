//! Prices: the shipped OpenAI price table (`prices.toml`, embedded at build time), config
//! overrides, model-name resolution, and the cost of a call in nano-USD.
//!
//! Owns: the price file format ([`ModelPrice`]), its validation, resolving a model name to an
//! entry (exact, else the longest known prefix ending at a `-`, which covers dated snapshots),
//! and the arithmetic (integer femto-USD per token internally, rounded once to nano-USD).
//! Must not: read files at run time (the table is `include_str!`ed), guess a price it does not
//! have (an unknown model or an unpriced quantity gives `None`, never 0), or know about
//! requests, workspaces or limits.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::model::CallUsage;

/// The price of one model. Token prices are USD per 1M tokens. Every field is optional; a
/// quantity used whose price is missing makes the call unpriced.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Uncached text input, USD per 1M tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<f64>,
    /// Cached text input, USD per 1M tokens (defaults to `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Text output (reasoning included; image output for gpt-image-*), USD per 1M tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
    /// Audio input, USD per 1M tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_input: Option<f64>,
    /// Audio output, USD per 1M tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_output: Option<f64>,
    /// Image input, USD per 1M tokens (defaults to `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_input: Option<f64>,
    /// USD per generated image when `image_prices` has no entry for its quality/size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_image: Option<f64>,
    /// USD per generated image by `"quality/size"` (`"hd/1024x1792"`) or `"size"` (`"512x512"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_prices: Option<BTreeMap<String, f64>>,
    /// USD per minute of input audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<f64>,
    /// USD per 1M input characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_1m_characters: Option<f64>,
}

impl ModelPrice {
    /// Every price with its field name (image prices as `image_prices."key"`).
    fn fields(&self) -> Vec<(String, Option<f64>)> {
        let mut v = vec![
            ("input".to_string(), self.input),
            ("cached_input".to_string(), self.cached_input),
            ("output".to_string(), self.output),
            ("audio_input".to_string(), self.audio_input),
            ("audio_output".to_string(), self.audio_output),
            ("image_input".to_string(), self.image_input),
            ("per_image".to_string(), self.per_image),
            ("per_minute".to_string(), self.per_minute),
            ("per_1m_characters".to_string(), self.per_1m_characters),
        ];
        for (k, p) in self.image_prices.iter().flatten() {
            v.push((format!("image_prices.\"{k}\""), Some(*p)));
        }
        v
    }

    /// The price of one image: `"{quality}/{size}"`, then `"{size}"`, then
    /// `"standard/{size}"`, then `per_image`. Size defaults to `1024x1024`, quality to
    /// `standard` (OpenAI's defaults for dall-e).
    pub fn image_price(&self, quality: Option<&str>, size: Option<&str>) -> Option<f64> {
        let size = size.unwrap_or("1024x1024");
        let quality = quality.unwrap_or("standard");
        self.image_prices
            .as_ref()
            .and_then(|m| {
                m.get(&format!("{quality}/{size}"))
                    .or_else(|| m.get(size))
                    .or_else(|| m.get(&format!("standard/{size}")))
            })
            .copied()
            .or(self.per_image)
    }
}

/// A price table that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("the price table does not parse: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("prices.\"{model}\".{field}: must be a finite, non-negative number of USD")]
    InvalidPrice { model: String, field: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    as_of: String,
    models: BTreeMap<String, ModelPrice>,
}

/// Model prices, resolved by name.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTable {
    as_of: String,
    models: BTreeMap<String, ModelPrice>,
    resolved: Resolved,
}

/// Names that are not entries, with the entry each resolved to (see [`PriceTable::lookup`]):
/// OpenAI answers with dated names (`gpt-4o-mini-2024-07-18`), which would otherwise cost a
/// lower-casing and a scan of the table on every call. Bounded, as names come from callers.
#[derive(Default)]
struct Resolved(RwLock<HashMap<Box<str>, Option<Box<str>>>>);

const RESOLVED_CAP: usize = 4096;

impl Clone for Resolved {
    fn clone(&self) -> Self {
        Resolved::default()
    }
}

impl PartialEq for Resolved {
    /// A cache: two tables with the same entries are equal whatever they have resolved.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolved")
    }
}

/// Femto-USD (1e-15) per token for a price in USD per 1M tokens is `price * 1e9`.
const FEMTO_PER_TOKEN: f64 = 1e9;
/// Femto-USD per USD.
const FEMTO_PER_USD: f64 = 1e15;
const FEMTO_PER_NANO: u128 = 1_000_000;

/// A valid price converted to integer femto-USD per unit; `None` when missing or invalid
/// (negative, NaN or infinite override values are treated as missing).
fn femto(price: Option<f64>, per_unit: f64) -> Option<u128> {
    let p = price.filter(|p| p.is_finite() && *p >= 0.0)?;
    let f = (p * per_unit).round();
    (f < u128::MAX as f64).then_some(f as u128)
}

impl PriceTable {
    /// The table shipped in the binary (`src/pricing/prices.toml`).
    pub fn shipped() -> Result<Self, PricingError> {
        Self::from_toml(include_str!("prices.toml"))
    }

    /// Parses a table in the shipped format (`as_of = "…"` and `[models."name"]` tables),
    /// rejecting unknown fields and invalid prices.
    pub fn from_toml(text: &str) -> Result<Self, PricingError> {
        let file: PriceFile = toml::from_str(text)?;
        for (model, p) in &file.models {
            for (field, v) in p.fields() {
                if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    return Err(PricingError::InvalidPrice {
                        model: model.clone(),
                        field,
                    });
                }
            }
        }
        Ok(PriceTable {
            as_of: file.as_of,
            models: file.models,
            resolved: Resolved::default(),
        })
    }

    /// The date of the shipped prices (`YYYY-MM-DD`).
    pub fn as_of(&self) -> &str {
        &self.as_of
    }

    /// The entries, by model name.
    pub fn models(&self) -> &BTreeMap<String, ModelPrice> {
        &self.models
    }

    /// Adds or replaces entries (a config `[prices]` entry replaces the shipped entry of the
    /// same name whole; it is not merged field by field). Invalid values (negative, not
    /// finite) in overrides are treated as missing prices.
    pub fn with_overrides(mut self, overrides: BTreeMap<String, ModelPrice>) -> Self {
        self.models.extend(overrides);
        self.resolved = Resolved::default();
        self
    }

    /// The entry for a model: the exact name; else, case-insensitively, the exact name or the
    /// longest entry that is a prefix of the name followed by `-` (dated snapshots such as
    /// `-2024-07-18`, `-0125`, `-preview-2024-12-17`): `gpt-4o-mini-2024-07-18` →
    /// `gpt-4o-mini`, never `gpt-4o`. Fine-tuned models (`ft:…`) match only an exact entry.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        if let Some(p) = self.models.get(model) {
            return Some(p);
        }
        let memo = &self.resolved.0;
        if let Some(hit) = memo.read().unwrap_or_else(|p| p.into_inner()).get(model) {
            return hit.as_deref().and_then(|k| self.models.get(k));
        }
        let entry = self.resolve(model);
        let mut m = memo.write().unwrap_or_else(|p| p.into_inner());
        if m.len() < RESOLVED_CAP {
            m.insert(model.into(), entry.map(Into::into));
        }
        entry.and_then(|k| self.models.get(k))
    }

    /// The entry name `model` stands for, by the rules of [`PriceTable::lookup`].
    fn resolve(&self, model: &str) -> Option<&str> {
        let lower = model.trim().to_ascii_lowercase();
        if let Some((k, _)) = self.models.get_key_value(&lower) {
            return Some(k);
        }
        self.models
            .keys()
            .filter(|k| {
                let l = lower.as_bytes();
                l.len() > k.len()
                    && l[k.len()] == b'-'
                    && l[..k.len()].eq_ignore_ascii_case(k.as_bytes())
            })
            .max_by_key(|k| k.len())
            .map(String::as_str)
    }

    /// The cost of a call in nano-USD (1e-9), rounded to the nearest: uncached text input at
    /// `input`, cached input at `cached_input` (else `input`), audio input at `audio_input`,
    /// image input at `image_input` (else `input`), text output at `output`, audio output at
    /// `audio_output`, images at their quality/size price (unless the model is billed by
    /// output tokens), audio seconds at `per_minute`, characters at `per_1m_characters`.
    /// `None` when the model is missing or unknown, or when a quantity used has no price.
    pub fn cost_nanos(&self, usage: &CallUsage) -> Option<u64> {
        let p = self.lookup(usage.model.as_deref()?)?;
        let mut total: u128 = 0;
        let mut add = |n: u64, price: Option<f64>| -> Option<()> {
            if n > 0 {
                total = total
                    .checked_add(u128::from(n).checked_mul(femto(price, FEMTO_PER_TOKEN)?)?)?;
            }
            Some(())
        };
        let input = usage.input_tokens;
        let audio_in = usage.audio_input_tokens.min(input);
        let image_in = usage.image_input_tokens.min(input - audio_in);
        let cached = usage.cached_tokens.min(input - audio_in - image_in);
        let text_in = input - audio_in - image_in - cached;
        add(text_in, p.input)?;
        add(cached, p.cached_input.or(p.input))?;
        add(audio_in, p.audio_input)?;
        add(image_in, p.image_input.or(p.input))?;
        let audio_out = usage.audio_output_tokens.min(usage.output_tokens);
        add(usage.output_tokens - audio_out, p.output)?;
        add(audio_out, p.audio_output)?;
        if usage.images > 0 {
            match p.image_price(usage.image_quality.as_deref(), usage.image_size.as_deref()) {
                Some(price) => {
                    total = total.checked_add(
                        u128::from(usage.images).checked_mul(femto(Some(price), FEMTO_PER_USD)?)?,
                    )?;
                }
                // gpt-image-*: the images are the output tokens.
                None if usage.output_tokens > 0 => {}
                None => return None,
            }
        }
        if usage.audio_seconds > 0.0 {
            match femto(p.per_minute, FEMTO_PER_USD) {
                Some(per_min) => {
                    let f = (usage.audio_seconds / 60.0 * per_min as f64).round();
                    if !f.is_finite() || f >= u128::MAX as f64 {
                        return None;
                    }
                    total = total.checked_add(f as u128)?;
                }
                // Token-billed transcription that also reported a duration.
                None if usage.total_tokens() > 0 => {}
                None => return None,
            }
        }
        if usage.characters > 0 {
            let per_char = femto(p.per_1m_characters, FEMTO_PER_TOKEN)?;
            total = total.checked_add(u128::from(usage.characters).checked_mul(per_char)?)?;
        }
        u64::try_from(total.saturating_add(FEMTO_PER_NANO / 2) / FEMTO_PER_NANO).ok()
    }

    /// The most a call can cost, for reserving budget at admission: `input_tokens` at the
    /// model's highest input price (text, audio or image) plus `max_output_tokens` at its
    /// highest output price, in nano-USD rounded up. 0 when the model is missing or unknown
    /// (per-image, per-minute and per-character costs are not reserved).
    pub fn worst_case_nanos(
        &self,
        model: Option<&str>,
        input_tokens: u64,
        max_output_tokens: u64,
    ) -> u64 {
        let Some(p) = model.and_then(|m| self.lookup(m)) else {
            return 0;
        };
        let rate = |prices: &[Option<f64>]| {
            prices
                .iter()
                .filter_map(|p| femto(*p, FEMTO_PER_TOKEN))
                .max()
                .unwrap_or(0)
        };
        let total = u128::from(input_tokens)
            .saturating_mul(rate(&[p.input, p.audio_input, p.image_input]))
            .saturating_add(
                u128::from(max_output_tokens).saturating_mul(rate(&[p.output, p.audio_output])),
            );
        u64::try_from(total.div_ceil(FEMTO_PER_NANO)).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        match PriceTable::shipped() {
            Ok(t) => t,
            Err(e) => panic!("shipped table: {e}"),
        }
    }

    fn usage(model: &str) -> CallUsage {
        CallUsage {
            model: Some(model.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn shipped_table_parses_and_covers_the_brief() {
        let t = table();
        assert_eq!(t.as_of(), "2025-08-15");
        for m in [
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "gpt-4o",
            "gpt-4o-mini",
            "o1",
            "o1-mini",
            "o3",
            "o3-mini",
            "o4-mini",
            "gpt-4-turbo",
            "gpt-3.5-turbo",
            "text-embedding-3-small",
            "text-embedding-3-large",
            "text-embedding-ada-002",
            "gpt-image-1",
            "dall-e-3",
            "dall-e-2",
            "whisper-1",
            "gpt-4o-transcribe",
            "gpt-4o-mini-transcribe",
            "tts-1",
            "tts-1-hd",
            "gpt-4o-mini-tts",
            "omni-moderation-latest",
            "text-moderation-latest",
            "text-moderation-stable",
            "gpt-4o-audio-preview",
            "gpt-4o-mini-audio-preview",
        ] {
            assert!(t.models().contains_key(m), "{m} missing");
        }
        let p = t.lookup("gpt-4o-mini").cloned().unwrap_or_default();
        assert_eq!(
            (p.input, p.cached_input, p.output),
            (Some(0.15), Some(0.075), Some(0.60))
        );
        // Every chat model has input and output prices; cached is never above input.
        for (name, p) in t.models() {
            if let (Some(i), Some(c)) = (p.input, p.cached_input) {
                assert!(c <= i, "{name}");
            }
            assert!(
                p.fields().iter().any(|(_, v)| v.is_some()),
                "{name} has no price"
            );
        }
    }

    #[test]
    fn resolved_names_are_remembered_and_forgotten_on_override() {
        let t = table();
        let first = t.lookup("gpt-4o-mini-2024-07-18").cloned();
        assert!(first.is_some());
        assert_eq!(t.lookup("gpt-4o-mini-2024-07-18").cloned(), first);
        assert!(t.lookup("acme-model-2025-01-01").is_none());
        assert!(t.lookup("acme-model-2025-01-01").is_none());
        let price = ModelPrice {
            input: Some(1.0),
            ..ModelPrice::default()
        };
        let t = t.with_overrides(BTreeMap::from([("acme-model".to_string(), price.clone())]));
        assert_eq!(t.lookup("acme-model-2025-01-01"), Some(&price));
        // Names from callers cannot grow the memo without bound.
        for i in 0..RESOLVED_CAP + 10 {
            let _ = t.lookup(&format!("unknown-{i}"));
        }
        assert!(t.resolved.0.read().map_or(0, |m| m.len()) <= RESOLVED_CAP);
    }

    #[test]
    fn lookup_resolves_snapshots() {
        let t = table();
        let name_of = |m: &str| {
            t.lookup(m).and_then(|p| {
                t.models()
                    .iter()
                    .find(|(_, q)| std::ptr::eq(*q, p))
                    .map(|(k, _)| k.clone())
            })
        };
        let cases = [
            ("gpt-4o-mini-2024-07-18", Some("gpt-4o-mini")),
            ("gpt-4o-2024-08-06", Some("gpt-4o")),
            ("gpt-4o-2024-05-13", Some("gpt-4o-2024-05-13")),
            ("gpt-4.1-mini-2025-04-14", Some("gpt-4.1-mini")),
            ("gpt-4.1-2025-04-14", Some("gpt-4.1")),
            ("gpt-5-2025-08-07", Some("gpt-5")),
            ("gpt-5-nano-2025-08-07", Some("gpt-5-nano")),
            ("o3-mini-2025-01-31", Some("o3-mini")),
            ("o1-preview-2024-09-12", Some("o1")),
            ("o4-mini-2025-04-16", Some("o4-mini")),
            ("gpt-3.5-turbo-0125", Some("gpt-3.5-turbo")),
            ("gpt-4-0613", Some("gpt-4")),
            ("gpt-4-0125-preview", Some("gpt-4-0125-preview")),
            ("gpt-4-turbo-2024-04-09", Some("gpt-4-turbo")),
            (
                "gpt-4o-audio-preview-2024-12-17",
                Some("gpt-4o-audio-preview"),
            ),
            (
                "gpt-4o-audio-preview-2024-10-01",
                Some("gpt-4o-audio-preview-2024-10-01"),
            ),
            (
                "gpt-4o-mini-audio-preview-2024-12-17",
                Some("gpt-4o-mini-audio-preview"),
            ),
            ("gpt-4o-mini-transcribe", Some("gpt-4o-mini-transcribe")),
            ("gpt-4o-mini-tts", Some("gpt-4o-mini-tts")),
            ("omni-moderation-2024-09-26", Some("omni-moderation")),
            ("text-moderation-007", Some("text-moderation")),
            ("GPT-4o-Mini", Some("gpt-4o-mini")),
            ("gpt-4o-mini", Some("gpt-4o-mini")),
            ("gpt-4omni", None),
            ("gpt", None),
            ("claude-3-5-sonnet", None),
            ("ft:gpt-4o-mini-2024-07-18:my-org::9sJ1ssUP", None),
            ("", None),
        ];
        for (model, want) in cases {
            assert_eq!(name_of(model).as_deref(), want, "{model}");
        }
    }

    // One-line usages for the cost tables: `usage("o1").input(5).output(2)`.
    macro_rules! setters {
        ($($name:ident($v:ident: $ty:ty) => $field:ident = $val:expr;)*) => {
            impl CallUsage {
                $(fn $name(mut self, $v: $ty) -> Self {
                    self.$field = $val;
                    self
                })*
            }
        };
    }

    setters! {
        input(n: u64) => input_tokens = n;
        cached(n: u64) => cached_tokens = n;
        output(n: u64) => output_tokens = n;
        reasoning(n: u64) => reasoning_tokens = n;
        audio_in(n: u64) => audio_input_tokens = n;
        audio_out(n: u64) => audio_output_tokens = n;
        image_in(n: u64) => image_input_tokens = n;
        images(n: u64) => images = n;
        size(s: &str) => image_size = Some(s.to_string());
        quality(s: &str) => image_quality = Some(s.to_string());
        seconds(s: f64) => audio_seconds = s;
        chars(n: u64) => characters = n;
    }

    /// Each case's cost; a wrong one names its usage.
    fn assert_costs(t: &PriceTable, cases: &[(CallUsage, Option<u64>)]) {
        for (u, want) in cases {
            assert_eq!(t.cost_nanos(u), *want, "{u:?}");
        }
    }

    /// `t` with models priced by input only, in dollars per million tokens.
    fn with_input_prices(t: &PriceTable, prices: &[(&str, f64)]) -> PriceTable {
        let overrides = prices.iter().map(|&(model, input)| {
            let price = ModelPrice {
                input: Some(input),
                ..ModelPrice::default()
            };
            (model.to_string(), price)
        });
        t.clone().with_overrides(overrides.collect())
    }

    #[test]
    fn token_costs() {
        let t = table();
        assert_costs(
            &t,
            &[
                // 800 × $0.15/1M + 200 × $0.075/1M + 500 × $0.60/1M = $0.000435
                (
                    usage("gpt-4o-mini-2024-07-18")
                        .input(1000)
                        .cached(200)
                        .output(500)
                        .reasoning(100),
                    Some(435_000),
                ),
                // o1: 1M input, 1M output → $75.
                (
                    usage("o1").input(1_000_000).output(1_000_000),
                    Some(75_000_000_000),
                ),
                // gpt-5-nano cached at $0.005/1M: 5 nanos a token.
                (usage("gpt-5-nano").input(3).cached(3), Some(15)),
                // No cached price: cached tokens at the input price.
                (usage("gpt-4-turbo").input(100).cached(50), Some(1_000_000)),
                // Embeddings: $0.02/1M.
                (
                    usage("text-embedding-3-small").input(1_000_000),
                    Some(20_000_000),
                ),
                // Output tokens on a model without an output price: unpriced.
                (usage("text-embedding-3-small").input(1).output(1), None),
            ],
        );
        // Rounding to the nearest nano: 1 token at $0.0005/1M is 0.5 nano → 1; 0.4 → 0.
        let t2 = with_input_prices(&t, &[("half", 0.0005), ("less", 0.0004)]);
        assert_costs(
            &t2,
            &[
                (usage("half").input(1), Some(1)),
                (usage("less").input(1), Some(0)),
                (usage("less").input(10), Some(4)),
            ],
        );
    }

    #[test]
    fn audio_token_costs() {
        assert_costs(
            &table(),
            &[
                // gpt-4o-audio-preview: 18 text + 50 audio in, 18 text + 132 audio out.
                (
                    usage("gpt-4o-audio-preview-2024-12-17")
                        .input(68)
                        .audio_in(50)
                        .output(150)
                        .audio_out(132),
                    Some(18 * 2_500 + 50 * 40_000 + 18 * 10_000 + 132 * 80_000),
                ),
                // gpt-4o-transcribe: 14 audio tokens in, 45 text out.
                (
                    usage("gpt-4o-transcribe").input(14).audio_in(14).output(45),
                    Some(14 * 6_000 + 45 * 10_000),
                ),
                // Audio on a model without an audio price: unpriced.
                (usage("gpt-4o-mini").input(10).audio_in(5), None),
            ],
        );
    }

    #[test]
    fn image_costs() {
        let dalle3 = || usage("dall-e-3");
        let dalle2 = |s: &str| usage("dall-e-2").images(3).size(s).quality("standard");
        assert_costs(
            &table(),
            &[
                (
                    dalle3().quality("hd").size("1024x1792").images(2),
                    Some(240_000_000),
                ),
                (dalle3().images(1), Some(40_000_000)),
                (
                    dalle3().quality("standard").size("1792x1024").images(1),
                    Some(80_000_000),
                ),
                (
                    dalle3().quality("hd").size("9x9").images(1),
                    Some(40_000_000),
                ),
                (dalle2("256x256"), Some(48_000_000)),
                (dalle2("512x512"), Some(54_000_000)),
                // gpt-image-1: 10 text + 40 image input tokens, 8280 image output tokens.
                (
                    usage("gpt-image-1")
                        .input(50)
                        .image_in(40)
                        .output(8280)
                        .images(2)
                        .size("1024x1024")
                        .quality("high"),
                    Some(10 * 5_000 + 40 * 10_000 + 8280 * 40_000),
                ),
                // Images on a model with no image price and no tokens: unpriced.
                (usage("gpt-image-1").images(1), None),
            ],
        );
    }

    #[test]
    fn minute_and_character_costs() {
        assert_costs(
            &table(),
            &[
                (usage("whisper-1").seconds(90.0), Some(9_000_000)),
                (usage("whisper-1").seconds(8.470000267028809), Some(847_000)),
                (usage("tts-1").chars(1000), Some(15_000_000)),
                (usage("tts-1-hd").chars(1000), Some(30_000_000)),
                // Seconds on a token-billed transcription model with tokens: the tokens are the cost.
                (
                    usage("gpt-4o-mini-transcribe")
                        .seconds(9.0)
                        .input(14)
                        .audio_in(14),
                    Some(14 * 3_000),
                ),
                // Characters or seconds without a price: unpriced.
                (usage("gpt-4o").chars(5), None),
                (usage("gpt-4o-transcribe").seconds(5.0), None),
            ],
        );
    }

    #[test]
    fn free_unknown_and_missing() {
        assert_costs(
            &table(),
            &[
                (usage("omni-moderation-latest"), Some(0)),
                (usage("omni-moderation-2024-09-26").input(500), Some(0)),
                (usage("mystery-model").input(5), None),
                (CallUsage::default().input(5), None),
                (usage("gpt-4o"), Some(0)),
            ],
        );
    }

    #[test]
    fn overrides_replace_entries() {
        let cfg = r#"
"gpt-4o-mini" = { input = 0.30, output = 1.20 }
"ft:gpt-4o-mini-2024-07-18:acme::abc" = { input = 0.30, cached_input = 0.15, output = 1.20 }
"bad" = { input = -1.0, output = 2.0 }
"#;
        let overrides: BTreeMap<String, ModelPrice> = match toml::from_str(cfg) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        let t = table().with_overrides(overrides);
        let p = t
            .lookup("gpt-4o-mini-2024-07-18")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            (p.input, p.cached_input, p.output),
            (Some(0.30), None, Some(1.20))
        );
        assert_costs(
            &t,
            &[
                (usage("gpt-4o-mini").input(10).cached(10), Some(3_000)),
                (
                    usage("ft:gpt-4o-mini-2024-07-18:acme::abc")
                        .input(10)
                        .cached(4)
                        .output(1),
                    Some(6 * 300 + 4 * 150 + 1_200),
                ),
                // An invalid override price is a missing price.
                (usage("bad").input(1), None),
                (usage("bad").output(1), Some(2_000)),
            ],
        );
        // Untouched entries stay.
        assert_eq!(t.lookup("gpt-4o").and_then(|p| p.input), Some(2.50));
        // Unknown fields are refused (config typos).
        assert!(
            toml::from_str::<BTreeMap<String, ModelPrice>>(r#""m" = { inptu = 1.0 }"#).is_err()
        );
    }

    #[test]
    fn worst_case() {
        let t = table();
        let tiny = with_input_prices(&t, &[("tiny", 0.0001)]);
        let cases = [
            (&t, Some("gpt-4o"), 1000, 1000, 1000 * 2_500 + 1000 * 10_000),
            (
                &t,
                Some("gpt-4o-audio-preview"),
                10,
                10,
                10 * 40_000 + 10 * 80_000,
            ),
            (&t, Some("gpt-4o-mini-2024-07-18"), 1, 0, 150),
            // Rounded up.
            (&t, Some("gpt-5-nano"), 1, 0, 50),
            (&tiny, Some("tiny"), 1, 0, 1),
            (&t, Some("unknown"), 1000, 1000, 0),
            (&t, None, 1000, 1000, 0),
            (&t, Some("text-embedding-3-large"), 1000, 1000, 130_000),
            (&t, Some("o1-pro"), u64::MAX, u64::MAX, u64::MAX),
        ];
        for (t, model, input, output, want) in cases {
            assert_eq!(
                t.worst_case_nanos(model, input, output),
                want,
                "{model:?} {input} {output}"
            );
        }
    }

    #[test]
    fn invalid_tables() {
        assert!(matches!(
            PriceTable::from_toml("as_of = "),
            Err(PricingError::Parse(_))
        ));
        assert!(matches!(
            PriceTable::from_toml("as_of = \"x\"\n[models.m]\nprice = 1.0\n"),
            Err(PricingError::Parse(_))
        ));
        let e = PriceTable::from_toml("as_of = \"x\"\n[models.m]\ninput = -0.5\n");
        assert!(
            matches!(&e, Err(PricingError::InvalidPrice { model, field }) if model == "m" && field == "input")
        );
        let e =
            PriceTable::from_toml("as_of = \"x\"\n[models.m.image_prices]\n\"256x256\" = nan\n");
        assert!(
            matches!(&e, Err(PricingError::InvalidPrice { field, .. }) if field == "image_prices.\"256x256\"")
        );
        assert!(
            PriceTable::from_toml("as_of = \"x\"\n[models]\n").is_ok_and(|t| t.models().is_empty())
        );
    }
}
