//! The built-in provider: no network, no model, so the assistant works
//! anywhere. It answers from the FAQ (word overlap with the FAQ's questions),
//! else quotes the sentence of the conversation that best matches the
//! question; it summarizes by extraction (the sentences whose words the
//! conversation uses most, in their original order). Modest, predictable,
//! and always available as the chain's last resort.

use std::collections::{BTreeSet, HashMap};

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{Completion, FaqEntry, Line, Prompt, Provider, ProviderError, Source, Task};

pub struct Offline;

/// Lowest FAQ score that counts as an answer.
const FAQ_THRESHOLD: f64 = 0.34;
/// Lowest score for quoting the conversation as an answer.
const QUOTE_THRESHOLD: f64 = 0.3;

impl Provider for Offline {
    fn name(&self) -> &str {
        "offline"
    }

    fn translates(&self) -> bool {
        false
    }

    fn complete<'a>(
        &'a self,
        prompt: &'a Prompt,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        let reply = match &prompt.task {
            // Translation needs a model: the chain's API providers do it.
            Task::Translate { .. } => {
                return futures::future::ready(Err(ProviderError::Invalid(
                    "the offline provider has no translation model".into(),
                )))
                .boxed()
            }
            // Offline sentiment is the database's lexicon (sql/76_sentiment.sql),
            // which stands in for every text no model scored.
            Task::Sentiment { .. } => {
                return futures::future::ready(Err(ProviderError::Invalid(
                    "offline sentiment is scored in the database".into(),
                )))
                .boxed()
            }
            Task::Answer { question } => answer(question, &prompt.conversation, &prompt.faq),
            Task::Summarize => summarize(&prompt.conversation),
            Task::FirstResponse { subject, question } => {
                first_response(subject, question, &prompt.faq)
            }
        };
        futures::future::ready(Ok(Completion {
            text: reply.text,
            provider: "offline".into(),
            model: None,
            sources: reply.sources,
            confidence: reply.confidence,
        }))
        .boxed()
    }

    fn moderate<'a>(
        &'a self,
        text: &'a str,
    ) -> BoxFuture<'a, Result<super::moderate::Verdict, ProviderError>> {
        futures::future::ready(Ok(super::moderate::offline(text))).boxed()
    }
}

/// An answer with what it drew on: the matched FAQ entry or quoted message,
/// and the match score as its confidence.
struct Reply {
    text: String,
    sources: Vec<Source>,
    confidence: Option<f64>,
}

impl Reply {
    fn plain(text: String) -> Self {
        Self {
            text,
            sources: Vec::new(),
            confidence: None,
        }
    }
}

const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "after",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "for",
    "from",
    "get",
    "got",
    "had",
    "has",
    "have",
    "he",
    "her",
    "here",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "me",
    "my",
    "no",
    "not",
    "of",
    "on",
    "or",
    "our",
    "please",
    "she",
    "so",
    "some",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "they",
    "this",
    "to",
    "too",
    "up",
    "us",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "ai",
    "assistant",
    "hi",
    "hello",
    "thanks",
    "thank",
];

/// The content words of `text`: lowercase, no stopwords, plurals folded.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .filter(|w| w.chars().count() > 1 && !STOPWORDS.contains(&w.as_str()))
        .map(|w| fold(&w))
        .collect()
}

fn fold(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies").filter(|s| s.len() > 2) {
        return format!("{stem}y");
    }
    if let Some(stem) = word.strip_suffix("sses") {
        return format!("{stem}ss");
    }
    match word.strip_suffix('s') {
        Some(stem) if stem.len() > 2 && !stem.ends_with('s') => stem.to_owned(),
        _ => word.to_owned(),
    }
}

/// Cosine similarity of two word sets.
fn similarity(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count() as f64;
    shared / ((a.len() * b.len()) as f64).sqrt()
}

fn set(text: &str) -> BTreeSet<String> {
    words(text).into_iter().collect()
}

/// The FAQ entries that share words with `question`, best first, at most `n`.
pub fn relevant_faq(question: &str, faq: &[FaqEntry], n: usize) -> Vec<FaqEntry> {
    let asked = set(question);
    let mut scored: Vec<(f64, &FaqEntry)> = faq
        .iter()
        .map(|entry| (similarity(&asked, &set(&entry.question)), entry))
        .filter(|(score, _)| *score > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(n).map(|(_, e)| e.clone()).collect()
}

/// The FAQ entry that answers `question`, with its score.
fn best_faq<'a>(question: &str, faq: &'a [FaqEntry]) -> Option<(f64, &'a FaqEntry)> {
    let asked = set(question);
    faq.iter()
        .map(|entry| (similarity(&asked, &set(&entry.question)), entry))
        .filter(|(score, _)| *score >= FAQ_THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// Sentences of a message (at least something: a short message is one sentence).
fn sentences(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in body.chars() {
        current.push(c);
        if matches!(c, '.' | '!' | '?' | '\n') {
            let s = current.trim().to_owned();
            if !s.is_empty() {
                out.push(s);
            }
            current.clear();
        }
    }
    let s = current.trim().to_owned();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// What people said: not the assistant, not system notices, not questions to the assistant.
fn said(line: &Line) -> bool {
    line.role != "system" && line.role != "assistant" && !line.calls_ai
}

fn answer(question: &str, conversation: &[Line], faq: &[FaqEntry]) -> Reply {
    if let Some((score, entry)) = best_faq(question, faq) {
        return Reply {
            text: entry.answer.clone(),
            sources: vec![Source::of_faq(entry)],
            confidence: Some(score),
        };
    }
    let asked = set(question);
    let best = conversation
        .iter()
        .filter(|line| said(line))
        .flat_map(|line| sentences(&line.body).into_iter().map(move |s| (line, s)))
        .map(|(line, s)| (similarity(&asked, &set(&s)), line, s))
        .filter(|(score, _, _)| *score >= QUOTE_THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((score, line, sentence)) => Reply {
            text: format!(
                "Earlier in this conversation, {} wrote: “{sentence}”",
                line.author
            ),
            sources: Source::of_line(line).into_iter().collect(),
            confidence: Some(score),
        },
        None => Reply {
            text:
                "I could not find an answer to that in the FAQ or in this conversation. \
                   (I am the built-in offline assistant; a person will have to help with this one.)"
                    .to_owned(),
            sources: Vec::new(),
            confidence: Some(0.0),
        },
    }
}

fn summarize(conversation: &[Line]) -> Reply {
    let lines: Vec<&Line> = conversation.iter().filter(|l| said(l)).collect();
    if lines.is_empty() {
        return Reply::plain("There is nothing to summarize yet.".to_owned());
    }
    let mut participants: Vec<&str> = Vec::new();
    for line in &lines {
        if !participants.contains(&line.author.as_str()) {
            participants.push(&line.author);
        }
    }
    // How often the conversation uses each word.
    let mut frequency: HashMap<String, usize> = HashMap::new();
    for line in &lines {
        for word in words(&line.body) {
            *frequency.entry(word).or_default() += 1;
        }
    }
    // (position, line, sentence, score)
    let mut candidates: Vec<(usize, &Line, String, f64)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        for sentence in sentences(&line.body) {
            let distinct = set(&sentence);
            if distinct.is_empty() {
                continue;
            }
            let weight: usize = distinct.iter().map(|w| frequency[w]).sum();
            let mut score = weight as f64 / (distinct.len() as f64).sqrt();
            if i == 0 {
                score *= 1.5; // the opening usually states the issue
            }
            candidates.push((candidates.len(), line, sentence, score));
        }
    }
    let keep = (lines.len() / 3).clamp(1, 5);
    let mut chosen: Vec<_> = candidates.clone();
    chosen.sort_by(|a, b| b.3.total_cmp(&a.3));
    chosen.truncate(keep);
    chosen.sort_by_key(|c| c.0);
    let mut text = format!(
        "Summary of {} message{} from {}:",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        participants.join(", ")
    );
    let mut sources: Vec<Source> = Vec::new();
    let mut cite = |line: &Line| {
        if let Some(source) = Source::of_line(line).filter(|s| !sources.contains(s)) {
            sources.push(source);
        }
    };
    for (_, line, sentence, _) in &chosen {
        text.push_str(&format!("\n- {}: {}", line.author, clip(sentence, 300)));
        cite(line);
    }
    if let Some(last) = lines.last() {
        let last_sentence = sentences(&last.body).pop().unwrap_or_default();
        if !chosen.iter().any(|c| c.2 == last_sentence) {
            text.push_str(&format!(
                "\nLatest, from {}: “{}”",
                last.author,
                clip(&last.body, 200)
            ));
            cite(last);
        }
    }
    Reply {
        text,
        sources,
        confidence: None,
    }
}

fn first_response(subject: &str, question: &str, faq: &[FaqEntry]) -> Reply {
    let asked = format!("{subject} {question}");
    match best_faq(&asked, faq) {
        Some((score, entry)) => Reply {
            text: format!(
                "Thanks for reaching out! No agent is online right now, but this may help:\n\n{}\n\n\
                 Your chat is in the queue; an agent will follow up as soon as one is available.",
                entry.answer
            ),
            sources: vec![Source::of_faq(entry)],
            confidence: Some(score),
        },
        None => Reply::plain(format!(
            "Thanks for reaching out! No agent is online right now. Your chat about “{}” is in \
             the queue, and an agent will answer as soon as one is available.",
            clip(subject, 120)
        )),
    }
}

fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(author: &str, body: &str) -> Line {
        Line {
            id: Some(uuid::Uuid::new_v4()),
            author: author.into(),
            role: "user".into(),
            body: body.into(),
            calls_ai: false,
        }
    }

    fn faq() -> Vec<FaqEntry> {
        vec![
            FaqEntry {
                id: 1,
                question: "How do I reset my password?".into(),
                answer: "Use “Forgot password” on the sign-in page.".into(),
            },
            FaqEntry {
                id: 2,
                question: "When will my refund arrive?".into(),
                answer: "Refunds reach your account within 5 business days.".into(),
            },
        ]
    }

    #[test]
    fn words_drop_stopwords_and_fold_plurals() {
        assert_eq!(words("How do I get my Refunds, please?"), vec!["refund"]);
        assert_eq!(words("batteries and glasses"), vec!["battery", "glass"]);
    }

    #[test]
    fn the_faq_answers_questions_it_covers() {
        let reply = answer("@ai how can I reset the password", &[], &faq());
        assert_eq!(reply.text, "Use “Forgot password” on the sign-in page.");
        assert_eq!(
            reply.sources,
            vec![Source::Faq {
                id: 1,
                question: "How do I reset my password?".into()
            }]
        );
        assert!(reply
            .confidence
            .is_some_and(|c| (FAQ_THRESHOLD..=1.0).contains(&c)));
        assert_eq!(
            relevant_faq("refund arrive", &faq(), 3)[0].question,
            "When will my refund arrive?"
        );
        let none = answer("what is the weather like", &[], &faq());
        assert!(none.text.starts_with("I could not find"));
        assert!(none.sources.is_empty());
        assert_eq!(none.confidence, Some(0.0));
    }

    #[test]
    fn the_conversation_answers_what_it_said() {
        let conversation = vec![
            line(
                "alice",
                "The meeting is moved to Thursday at 3pm. Bring the slides.",
            ),
            line("bob", "ok"),
        ];
        let reply = answer("when is the meeting", &conversation, &[]);
        assert_eq!(
            reply.text,
            "Earlier in this conversation, alice wrote: “The meeting is moved to Thursday at 3pm.”"
        );
        assert_eq!(
            reply.sources,
            vec![Source::Message {
                id: conversation[0].id.unwrap()
            }]
        );
    }

    #[test]
    fn summaries_extract_the_main_sentences_in_order() {
        let conversation = vec![
            line(
                "carol",
                "My order 1234 arrived damaged. The box was crushed.",
            ),
            line(
                "agent",
                "Sorry to hear that! Can you send a photo of the damaged order?",
            ),
            line("carol", "Sure, here it is."),
            line(
                "agent",
                "Thanks. I have issued a replacement for order 1234.",
            ),
            line("carol", "Great, thank you!"),
            Line {
                id: None,
                author: "system".into(),
                role: "system".into(),
                body: "Dana joined".into(),
                calls_ai: false,
            },
        ];
        let reply = summarize(&conversation);
        let text = reply.text;
        assert!(
            text.starts_with("Summary of 5 messages from carol, agent:"),
            "{text}"
        );
        assert!(
            text.contains("- carol: My order 1234 arrived damaged."),
            "{text}"
        );
        assert!(!text.contains("Dana joined"), "{text}");
        assert!(reply.sources.contains(&Source::Message {
            id: conversation[0].id.unwrap()
        }));
        assert_eq!(summarize(&[]).text, "There is nothing to summarize yet.");
    }

    #[test]
    fn first_responses_use_the_faq_when_they_can() {
        let helped = first_response("Refund", "when does my refund arrive?", &faq());
        assert!(helped.text.contains("5 business days"));
        assert!(matches!(helped.sources[..], [Source::Faq { id: 2, .. }]));
        let queued = first_response("Shipping", "where is my parcel", &faq());
        assert!(queued.text.contains("in the queue"));
        assert!(queued.sources.is_empty() && queued.confidence.is_none());
    }
}
