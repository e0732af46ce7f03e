//! Endpoint families: the stable, id-free name of an OpenAI API path (`threads/thread_1/runs/run_2`
//! → `threads.runs`), and how each family is metered: one [`FamilySpec`] per [`FamilyKind`].
//!
//! Owns: id detection in path segments, the one list of known families ([`FAMILIES`]), and the
//! one table of metered families (`family_specs!` below): what admission reserves, which request
//! fields it reads, how the answer's stream is tapped, where the usage of a JSON answer is. The
//! family is a metric label, a usage group and a ledger column, so its set of values is fixed: a
//! path whose name is not in [`FAMILIES`] is counted as [`OTHER_FAMILY`] (the proxy keeps its path
//! in the ledger row only).
//! Must not: look at methods, headers or bodies (the table names the functions that do), or
//! allocate.
//!
//! # How to add an API family
//! 1. Its name (`a/b` → `a.b`) in [`FAMILIES`], if OpenAI documents a new path. A family that is
//!    only named, not metered apart, stops here: it is metered as [`FamilyKind::Other`] (any
//!    top-level `usage` of its answers counts).
//! 2. One entry in the `family_specs!` table below: its [`FamilyKind`] variant (with a doc line)
//!    and its [`FamilySpec`] — the names it covers, what it reserves ([`Reserve`]), the request
//!    fields admission reads ([`Reads`]), how its event stream is tapped ([`StreamKind`]),
//!    whether a GET shows a stored object's usage again, its usage reader, whether it counts once
//!    per run. Fields it shares with [`FamilyKind::Other`] come from `..PLAIN`.
//! 3. Only if its usage has a new shape: its reader in `proxy/usage.rs`, a
//!    `fn(&RequestInfo, &[u8]) -> Option<CallUsage>` over the lenient wire types there
//!    (`ResponseFields`, `UsageWire`). Only if its stream has a new shape: a [`StreamKind`] and its
//!    handling in `proxy/sse.rs`. Only if admission must read a new request field: a [`Reads`]
//!    variant, the field in [`RequestInfo`], its key in `known_key` and its arm in the top-level
//!    visitor (`proxy/inspect.rs`), and in `apply_form_field` (`proxy/multipart.rs`) if uploads
//!    carry it.
//! 4. Its fixtures and tests: an answer of the simulator (`src/simulator/`), a unit test of the
//!    reader (`proxy/usage/tests.rs`), a case in this file's `kinds` test, and a call through
//!    the gateway (`tests/proxy.rs`, or `tests/streaming.rs` for a stream).
//!
//! Nothing else matches on a family: admission (`proxy/admit.rs`), the request inspection, the
//! stream tap's choice (`proxy/answer.rs`) and the settlement (`proxy/settle.rs`) read the spec.

use crate::model::CallUsage;
use crate::proxy::inspect::RequestInfo;
use crate::proxy::sse::StreamKind;
use crate::proxy::usage;

/// The family of the empty path (`/v1` or `/v1/`).
pub const ROOT_FAMILY: &str = "root";

/// The family of every path whose name is not in [`FAMILIES`] (made-up paths, paths made only
/// of ids, endpoints OpenAI adds later): still counted, under this one name.
pub const OTHER_FAMILY: &str = "other";

/// Every organization admin endpoint (`organization/projects/…/api_keys`, `organization/usage/…`,
/// `organization/audit_logs`…) is counted under this one family.
pub const ORGANIZATION_FAMILY: &str = "organization";

/// The families of OpenAI's API as documented today, sorted (looked up by binary search). The
/// only list of known paths: adding an endpoint OpenAI documents is adding its name here.
/// Besides these the gateway names only [`OTHER_FAMILY`].
pub const FAMILIES: [&str; 74] = [
    "assistants",
    "audio.speech",
    "audio.transcriptions",
    "audio.translations",
    "batches",
    "batches.cancel",
    "chat.completions",
    "chat.completions.messages",
    "chatkit.sessions",
    "chatkit.sessions.cancel",
    "chatkit.threads",
    "chatkit.threads.items",
    "completions",
    "containers",
    "containers.files",
    "containers.files.content",
    "conversations",
    "conversations.items",
    "embeddings",
    "evals",
    "evals.runs",
    "evals.runs.output_items",
    "files",
    "files.content",
    "fine_tuning.alpha.graders.run",
    "fine_tuning.alpha.graders.validate",
    "fine_tuning.checkpoints.permissions",
    "fine_tuning.jobs",
    "fine_tuning.jobs.cancel",
    "fine_tuning.jobs.checkpoints",
    "fine_tuning.jobs.events",
    "fine_tuning.jobs.pause",
    "fine_tuning.jobs.resume",
    "images.edits",
    "images.generations",
    "images.variations",
    "models",
    "moderations",
    "organization",
    "realtime",
    "realtime.calls",
    "realtime.calls.accept",
    "realtime.calls.hangup",
    "realtime.calls.refer",
    "realtime.calls.reject",
    "realtime.client_secrets",
    "realtime.sessions",
    "realtime.transcription_sessions",
    "responses",
    "responses.cancel",
    "responses.compact",
    "responses.input_items",
    "responses.input_tokens",
    "root",
    "threads",
    "threads.messages",
    "threads.runs",
    "threads.runs.cancel",
    "threads.runs.steps",
    "threads.runs.submit_tool_outputs",
    "uploads",
    "uploads.cancel",
    "uploads.complete",
    "uploads.parts",
    "vector_stores",
    "vector_stores.file_batches",
    "vector_stores.file_batches.cancel",
    "vector_stores.file_batches.files",
    "vector_stores.files",
    "vector_stores.files.content",
    "vector_stores.search",
    "videos",
    "videos.content",
    "videos.remix",
];

/// Longer names are not in [`FAMILIES`]; the name is built in a buffer of this size.
const MAX_NAME: usize = 64;

/// The family of a request path given without its `/v1/` prefix and without its query: word
/// segments joined with dots, id segments dropped; the result if it is one of [`FAMILIES`]
/// (every `organization…` name is [`ORGANIZATION_FAMILY`]), else [`OTHER_FAMILY`].
///
/// A segment is a word iff it matches `^[a-z]+(_[a-z]+)*$`, does not directly follow a
/// `models` segment (model names such as `babbage` are ids there), and does not start with one
/// of OpenAI's underscore id prefixes ([`ID_PREFIXES`]: `vs_abc`, `thread_abc`, `run_abc` are
/// ids even without a digit). Anything with a digit, an uppercase letter, `-`, `.`, `:` or any
/// other character is an id. Empty segments (doubled or trailing slashes) are ignored; a
/// `?query` left on the path by mistake is ignored too. The empty path gives [`ROOT_FAMILY`];
/// a path made only of ids gives [`OTHER_FAMILY`].
///
/// `chat/completions` → `chat.completions`, `files/file-abc123/content` → `files.content`,
/// `models/gpt-4o-mini` → `models`, `realtime/sessions` → `realtime.sessions`,
/// `some/new/endpoint` → `other`.
pub fn family(path: &str) -> &'static str {
    let path = match path.find(['?', '#']) {
        Some(i) => &path[..i],
        None => path,
    };
    let mut name = [0u8; MAX_NAME];
    let mut len = 0;
    let mut any = false;
    let mut after_models = false;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        any = true;
        let word = !after_models && is_word(seg) && !has_id_prefix(seg);
        after_models = seg == "models";
        if word {
            if len == 0 && seg == ORGANIZATION_FAMILY {
                return ORGANIZATION_FAMILY;
            }
            let dot = usize::from(len > 0);
            let Some(out) = name.get_mut(len..len + dot + seg.len()) else {
                return OTHER_FAMILY;
            };
            if dot == 1 {
                out[0] = b'.';
            }
            out[dot..].copy_from_slice(seg.as_bytes());
            len += dot + seg.len();
        }
    }
    if !any {
        return ROOT_FAMILY;
    }
    let name = &name[..len];
    match FAMILIES.binary_search_by(|f| f.as_bytes().cmp(name)) {
        Ok(i) => FAMILIES[i],
        Err(_) => OTHER_FAMILY,
    }
}

/// The prefixes (before `_`) of OpenAI object ids that may appear in paths. No path word of the
/// API starts with one of these followed by `_` (`file_batches`, `input_items`, `fine_tuning`,
/// `vector_stores`, `submit_tool_outputs`, `api_keys`, `audit_logs` do not).
pub const ID_PREFIXES: [&str; 28] = [
    "asst", "batch", "cfile", "chatcmpl", "cntr", "conv", "cp", "eval", "evalrun", "ftckpt",
    "ftjob", "invite", "item", "key", "modr", "msg", "org", "part", "proj", "resp", "run", "sess",
    "step", "thread", "upload", "user", "vs", "vsfb",
];

fn has_id_prefix(seg: &str) -> bool {
    seg.split_once('_')
        .is_some_and(|(head, _)| ID_PREFIXES.contains(&head))
}

/// `^[a-z]+(_[a-z]+)*$`: lowercase ASCII letters, single underscores only between letters.
fn is_word(seg: &str) -> bool {
    let b = seg.as_bytes();
    if b.is_empty() || b[0] == b'_' || b[b.len() - 1] == b'_' {
        return false;
    }
    let mut prev_underscore = false;
    for &c in b {
        match c {
            b'a'..=b'z' => prev_underscore = false,
            b'_' if !prev_underscore => prev_underscore = true,
            _ => return false,
        }
    }
    true
}

/// What admission reserves for a call before it is forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserve {
    /// Nothing: the call is counted when it settles.
    Nothing,
    /// The prompt's tokens, estimated from the body's size (embeddings).
    Prompt,
    /// The prompt's tokens and the output cap (`max_*tokens`, else
    /// [`crate::proxy::DEFAULT_OUTPUT_RESERVE`]) times `n`: a generating call's worst case.
    PromptAndOutput,
}

/// The request fields admission reads besides the common ones (`model`, `stream`,
/// `stream_options`, `max_tokens`, `max_completion_tokens`, `max_output_tokens`, `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// None.
    Common,
    /// `size` and `quality` (JSON or form fields); `n` is the number of images.
    ImageParams,
    /// The characters of the JSON string `input` (speech is priced by them).
    SpeechInput,
}

/// Reads the usage of a 2xx non-streamed answer from its body, given what the request showed.
pub type UsageReader = fn(&RequestInfo, &[u8]) -> Option<CallUsage>;

/// How one family is metered: everything the proxy knows about it, in one place.
#[derive(Clone, Copy, Debug)]
pub struct FamilySpec {
    /// The families (names of [`FAMILIES`]) metered this way.
    pub names: &'static [&'static str],
    /// What admission reserves.
    pub reserve: Reserve,
    /// The request fields admission reads.
    pub reads: Reads,
    /// How an event-stream answer is tapped. The chat and completions kinds are the ones whose
    /// usage the gateway asks for (`stream_options.include_usage`) when the caller did not,
    /// removing the usage-only chunk from the answer ([`StreamKind::asks_for_usage`]).
    pub stream: StreamKind,
    /// A GET of this family retrieves a stored object whose usage was counted when it was made:
    /// not counted again.
    pub get_repeats_usage: bool,
    /// Where the usage of a JSON (or other non-streamed) answer is.
    pub usage: UsageReader,
    /// The usage counts once per run id: the first retrieve that shows the run terminal.
    pub once_per_run: bool,
}

/// A family that reserves nothing, reads no extra field, streams as [`StreamKind::Other`] and
/// counts any top-level `usage` of its answer: the base of every entry.
const PLAIN: FamilySpec = FamilySpec {
    names: &[],
    reserve: Reserve::Nothing,
    reads: Reads::Common,
    stream: StreamKind::Other,
    get_repeats_usage: false,
    usage: usage::any_usage,
    once_per_run: false,
};

/// Defines [`FamilyKind`] and its [`FamilyKind::spec`] from one table: one entry per kind.
macro_rules! family_specs {
    ($($(#[$doc:meta])* $kind:ident => $spec:expr,)*) => {
        /// How a family is metered: the key of its [`FamilySpec`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum FamilyKind {
            $($(#[$doc])* $kind,)*
        }

        impl FamilyKind {
            /// Every kind, in the table's order.
            pub const ALL: &'static [FamilyKind] = &[$(FamilyKind::$kind),*];

            /// How this kind is metered.
            pub fn spec(self) -> &'static FamilySpec {
                match self {
                    $(FamilyKind::$kind => {
                        const SPEC: FamilySpec = $spec;
                        &SPEC
                    })*
                }
            }
        }
    };
}

family_specs! {
    /// `chat.completions` (create, and retrieving a stored completion, which also shows usage).
    ChatCompletions => FamilySpec {
        names: &["chat.completions"],
        reserve: Reserve::PromptAndOutput,
        stream: StreamKind::Chat { strip_usage_chunk: false },
        get_repeats_usage: true,
        usage: usage::tokens,
        ..PLAIN
    },
    /// `completions` (legacy).
    Completions => FamilySpec {
        names: &["completions"],
        reserve: Reserve::PromptAndOutput,
        stream: StreamKind::Completions { strip_usage_chunk: false },
        usage: usage::tokens,
        ..PLAIN
    },
    /// `responses` (create, and retrieving a stored response, which also shows usage).
    Responses => FamilySpec {
        names: &["responses"],
        reserve: Reserve::PromptAndOutput,
        stream: StreamKind::Responses,
        get_repeats_usage: true,
        usage: usage::tokens,
        ..PLAIN
    },
    /// `embeddings`.
    Embeddings => FamilySpec {
        names: &["embeddings"],
        reserve: Reserve::Prompt,
        usage: usage::tokens,
        ..PLAIN
    },
    /// `images.generations`, `images.edits`, `images.variations`.
    Images => FamilySpec {
        names: &["images.generations", "images.edits", "images.variations"],
        reads: Reads::ImageParams,
        usage: usage::images,
        ..PLAIN
    },
    /// `audio.transcriptions`.
    AudioTranscription => FamilySpec {
        names: &["audio.transcriptions"],
        usage: usage::transcription,
        ..PLAIN
    },
    /// `audio.translations`.
    AudioTranslation => FamilySpec {
        names: &["audio.translations"],
        usage: usage::transcription,
        ..PLAIN
    },
    /// `audio.speech`.
    Speech => FamilySpec {
        names: &["audio.speech"],
        reads: Reads::SpeechInput,
        usage: usage::speech,
        ..PLAIN
    },
    /// `moderations`.
    Moderations => FamilySpec {
        names: &["moderations"],
        usage: usage::moderation,
        ..PLAIN
    },
    /// Assistants runs whose response is a run object: `threads.runs` (create, create thread
    /// and run, retrieve, modify — a list of runs is also `threads.runs` but carries no
    /// top-level usage), `threads.runs.cancel`, `threads.runs.submit_tool_outputs`.
    /// Run steps (`threads.runs.steps`) are `Other`: their usage is part of the run's.
    Runs => FamilySpec {
        names: &["threads.runs", "threads.runs.cancel", "threads.runs.submit_tool_outputs"],
        reserve: Reserve::PromptAndOutput,
        usage: usage::run,
        once_per_run: true,
        ..PLAIN
    },
    /// Everything else (files, batches, models, vector stores, fine-tuning, …): the kind of
    /// every family no other entry names.
    Other => PLAIN,
}

/// The kind of a family string as returned by [`family`]: the entry whose `names` hold it, else
/// [`FamilyKind::Other`].
///
/// Note: retrieving a stored chat completion (`GET chat/completions/{id}`) or response
/// (`GET responses/{id}`) has the same family as creating one and its body carries the same
/// `usage`; the settlement decides by method whether to count it
/// ([`FamilySpec::get_repeats_usage`]).
pub fn family_kind(family: &str) -> FamilyKind {
    FamilyKind::ALL
        .iter()
        .copied()
        .find(|k| k.spec().names.contains(&family))
        .unwrap_or(FamilyKind::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_families(cases: &[(&str, &str)]) {
        for (path, want) in cases {
            assert_eq!(family(path), *want, "path {path}");
        }
    }

    #[test]
    fn families_of_the_brief() {
        let cases = [
            ("chat/completions", "chat.completions"),
            ("threads/thread_1/runs/run_2", "threads.runs"),
            ("files/file-abc123/content", "files.content"),
            (
                "vector_stores/vs_abc/file_batches/vsfb_1/files",
                "vector_stores.file_batches.files",
            ),
            ("models/gpt-4o-mini", "models"),
            (
                "fine_tuning/jobs/ftjob-abc/events",
                "fine_tuning.jobs.events",
            ),
            ("responses/resp_123/input_items", "responses.input_items"),
            ("batches/batch_abc/cancel", "batches.cancel"),
            ("realtime/sessions", "realtime.sessions"),
        ];
        assert_families(&cases);
    }

    #[test]
    fn real_openai_ids_are_dropped() {
        let cases = [
            ("threads/thread_abc123XYZ/messages", "threads.messages"),
            (
                "threads/thread_abc/runs/run_Xyz9/steps/step_1",
                "threads.runs.steps",
            ),
            (
                "threads/thread_abc/runs/run_Xyz9/submit_tool_outputs",
                "threads.runs.submit_tool_outputs",
            ),
            (
                "chat/completions/chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT/messages",
                "chat.completions.messages",
            ),
            (
                "models/ft:gpt-4o-mini-2024-07-18:my-org:custom:9sJ1ssUP",
                "models",
            ),
            ("models/babbage", "models"),
            ("models/davinci/extra", OTHER_FAMILY),
            ("uploads/upload_abc123/parts", "uploads.parts"),
            (
                "organization/projects/proj_abc/api_keys/key_abc",
                ORGANIZATION_FAMILY,
            ),
            ("organization/audit_logs", ORGANIZATION_FAMILY),
            ("organization/usage/completions", ORGANIZATION_FAMILY),
            (
                "containers/cntr_682e0e7318108198aa783fd921ff305e08e78805b9fdbb04/files",
                "containers.files",
            ),
            ("audio/speech", "audio.speech"),
            ("images/generations", "images.generations"),
        ];
        assert_families(&cases);
    }

    #[test]
    fn segments_that_are_not_words() {
        for seg in [
            "", "_", "a_", "_a", "a__b", "A", "aB", "a1", "a-b", "a.b", "gpt-4o", "é", "a b",
        ] {
            assert!(!is_word(seg), "{seg:?} must be an id");
        }
        for seg in ["a", "chat", "file_batches", "submit_tool_outputs"] {
            assert!(is_word(seg), "{seg:?} must be a word");
        }
        for seg in [
            "vs_abc",
            "thread_abc",
            "run_abc",
            "vsfb_x",
            "msg_abc",
            "asst_abc",
        ] {
            assert!(
                is_word(seg) && has_id_prefix(seg),
                "{seg:?} must be an id by prefix"
            );
        }
        for seg in [
            "file_batches",
            "input_items",
            "fine_tuning",
            "vector_stores",
            "submit_tool_outputs",
            "api_keys",
            "admin_api_keys",
            "audit_logs",
            "service_accounts",
            "rate_limits",
            "input_tokens",
            "output_items",
            "runs",
            "threads",
        ] {
            assert!(!has_id_prefix(seg), "{seg:?} is a path word");
        }
    }

    #[test]
    fn the_table_is_sorted_and_names_itself() {
        assert!(FAMILIES.windows(2).all(|w| w[0] < w[1]), "sort FAMILIES");
        for f in FAMILIES {
            assert!(f.len() <= MAX_NAME, "{f}");
            if f != ROOT_FAMILY {
                assert_eq!(family(&f.replace('.', "/")), f);
            }
        }
        assert!(!FAMILIES.contains(&OTHER_FAMILY));
        assert!(FAMILIES.contains(&ORGANIZATION_FAMILY) && FAMILIES.contains(&ROOT_FAMILY));
        // Every family the metering kinds name is known.
        for f in FAMILIES {
            let _ = family_kind(f);
        }
        for f in [
            "chat.completions",
            "completions",
            "responses",
            "embeddings",
            "images.generations",
            "images.edits",
            "images.variations",
            "audio.transcriptions",
            "audio.translations",
            "audio.speech",
            "moderations",
            "threads.runs",
            "threads.runs.cancel",
            "threads.runs.submit_tool_outputs",
        ] {
            assert!(FAMILIES.contains(&f), "{f}");
            assert_ne!(family_kind(f), FamilyKind::Other, "{f}");
        }
    }

    #[test]
    fn every_spec_names_known_families_once() {
        let mut seen = std::collections::BTreeSet::new();
        for k in FamilyKind::ALL {
            for name in k.spec().names {
                assert!(FAMILIES.contains(name), "{k:?}: {name} is not in FAMILIES");
                assert!(seen.insert(*name), "{name} is in two specs");
                assert_eq!(family_kind(name), *k, "{name}");
            }
        }
        assert!(FamilyKind::Other.spec().names.is_empty());
        assert_eq!(FamilyKind::ALL.last(), Some(&FamilyKind::Other));
        // Only the chat-like streams are asked for their usage.
        for k in FamilyKind::ALL {
            let asks = k.spec().stream.asks_for_usage();
            assert_eq!(
                asks,
                matches!(k, FamilyKind::ChatCompletions | FamilyKind::Completions),
                "{k:?}"
            );
        }
    }

    #[test]
    fn made_up_paths_are_other() {
        for path in [
            "some/new/endpoint",
            "zzz",
            "chat/completions/extra",
            "chat/completionz",
            "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/aa/bb/cc/dd/ee",
            "vector_stores/vs_1/file_batches/vsfb_1/files/file-1/content/more/words/here/too",
        ] {
            assert_eq!(family(path), OTHER_FAMILY, "{path}");
        }
        // However many made-up words, the set of names stays the table plus `other`.
        let names: std::collections::BTreeSet<&str> = (0..5000u32)
            .map(|i| {
                let w: String = i
                    .to_string()
                    .bytes()
                    .map(|d| char::from(b'a' + (d - b'0')))
                    .collect();
                family(&format!("made/{w}/up"))
            })
            .collect();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), [OTHER_FAMILY]);
    }

    #[test]
    fn empty_slashes_and_queries() {
        assert_eq!(family(""), ROOT_FAMILY);
        assert_eq!(family("/"), ROOT_FAMILY);
        assert_eq!(family("file-abc"), OTHER_FAMILY);
        assert_eq!(family("/chat//completions/"), "chat.completions");
        assert_eq!(family("files?purpose=batch"), "files");
        assert_eq!(family("models/"), "models");
    }

    #[test]
    fn kinds() {
        let cases = [
            ("chat/completions", FamilyKind::ChatCompletions),
            ("chat/completions/chatcmpl-1", FamilyKind::ChatCompletions),
            ("completions", FamilyKind::Completions),
            ("responses", FamilyKind::Responses),
            ("responses/resp_1/input_items", FamilyKind::Other),
            ("embeddings", FamilyKind::Embeddings),
            ("images/generations", FamilyKind::Images),
            ("images/edits", FamilyKind::Images),
            ("images/variations", FamilyKind::Images),
            ("audio/transcriptions", FamilyKind::AudioTranscription),
            ("audio/translations", FamilyKind::AudioTranslation),
            ("audio/speech", FamilyKind::Speech),
            ("moderations", FamilyKind::Moderations),
            ("threads/runs", FamilyKind::Runs),
            ("threads/thread_1/runs", FamilyKind::Runs),
            ("threads/thread_1/runs/run_1", FamilyKind::Runs),
            ("threads/thread_1/runs/run_1/cancel", FamilyKind::Runs),
            (
                "threads/thread_1/runs/run_1/submit_tool_outputs",
                FamilyKind::Runs,
            ),
            ("threads/thread_1/runs/run_1/steps", FamilyKind::Other),
            ("threads/thread_1", FamilyKind::Other),
            ("files", FamilyKind::Other),
            ("", FamilyKind::Other),
        ];
        for (path, want) in cases {
            assert_eq!(family_kind(family(path)), want, "path {path}");
        }
    }
}
