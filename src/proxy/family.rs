//! Endpoint families: the stable, id-free name of an OpenAI API path (`threads/thread_1/runs/run_2`
//! → `threads.runs`) and the kind of metering that family gets.
//!
//! Owns: id detection in path segments, the one list of known families ([`FAMILIES`]), and the
//! mapping family → [`FamilyKind`]. The family is a metric label, a usage group and a ledger
//! column, so its set of values is fixed: a path whose name is not in [`FAMILIES`] is counted
//! as [`OTHER_FAMILY`] (the proxy keeps its path in the ledger row only).
//! Must not: look at methods, headers or bodies, or allocate.

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

/// How a family is metered (see `crate::proxy::usage::extract_json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FamilyKind {
    /// `chat.completions` (create, and retrieving a stored completion, which also shows usage).
    ChatCompletions,
    /// `completions` (legacy).
    Completions,
    /// `responses` (create, and retrieving a stored response, which also shows usage).
    Responses,
    /// `embeddings`.
    Embeddings,
    /// `images.generations`, `images.edits`, `images.variations`.
    Images,
    /// `audio.transcriptions`.
    AudioTranscription,
    /// `audio.translations`.
    AudioTranslation,
    /// `audio.speech`.
    Speech,
    /// `moderations`.
    Moderations,
    /// Assistants runs whose response is a run object: `threads.runs` (create, create thread
    /// and run, retrieve, modify — a list of runs is also `threads.runs` but carries no
    /// top-level usage), `threads.runs.cancel`, `threads.runs.submit_tool_outputs`.
    /// Run steps (`threads.runs.steps`) are `Other`: their usage is part of the run's.
    Runs,
    /// Everything else (files, batches, models, vector stores, fine-tuning, …).
    Other,
}

/// The kind of a family string as returned by [`family`].
///
/// Note: retrieving a stored chat completion (`GET chat/completions/{id}`) or response
/// (`GET responses/{id}`) has the same family as creating one and its body carries the same
/// `usage`; the caller decides by method whether to count it.
pub fn family_kind(family: &str) -> FamilyKind {
    match family {
        "chat.completions" => FamilyKind::ChatCompletions,
        "completions" => FamilyKind::Completions,
        "responses" => FamilyKind::Responses,
        "embeddings" => FamilyKind::Embeddings,
        "images.generations" | "images.edits" | "images.variations" => FamilyKind::Images,
        "audio.transcriptions" => FamilyKind::AudioTranscription,
        "audio.translations" => FamilyKind::AudioTranslation,
        "audio.speech" => FamilyKind::Speech,
        "moderations" => FamilyKind::Moderations,
        "threads.runs" | "threads.runs.cancel" | "threads.runs.submit_tool_outputs" => {
            FamilyKind::Runs
        }
        _ => FamilyKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for (path, want) in cases {
            assert_eq!(family(path), want, "path {path}");
        }
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
        for (path, want) in cases {
            assert_eq!(family(path), want, "path {path}");
        }
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
