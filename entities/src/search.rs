//! The text that full-text search indexes, folded the same way as the words searched for.
//!
//! Both engines index [`document`]'s output (PostgreSQL as a `tsvector`, SQLite through FTS5),
//! and a search is made of [`tokens`] of the same folding, so "Lyon", "lyon" and "LYÔN" match
//! alike on both.

/// Lower-cases and strips the accents of French (and most Latin) text.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        for l in c.to_lowercase() {
            match l {
                'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => out.push('a'),
                'ç' | 'ć' | 'č' => out.push('c'),
                'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' => out.push('e'),
                'ì' | 'í' | 'î' | 'ï' | 'ī' => out.push('i'),
                'ñ' | 'ń' => out.push('n'),
                'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => out.push('o'),
                'ù' | 'ú' | 'û' | 'ü' | 'ū' => out.push('u'),
                'ý' | 'ÿ' => out.push('y'),
                'œ' => out.push_str("oe"),
                'æ' => out.push_str("ae"),
                'ß' => out.push_str("ss"),
                other => out.push(other),
            }
        }
    }
    out
}

/// The folded words of a text: runs of letters and digits, everything else is a separator.
pub fn tokens(text: &str) -> Vec<String> {
    words(&fold(text)).map(str::to_owned).collect()
}

/// The runs of letters and digits of a folded text.
fn words(folded: &str) -> impl Iterator<Item = &str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Drops HTML tags and decodes the few entities partners use, leaving plain text.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    if !out.contains('&') {
        return out;
    }
    out.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// The search document of a mission: its title, plain-text description, organization name and
/// cities, folded into space-separated words.
pub fn document<'a>(
    title: &str,
    description: &str,
    organization_name: Option<&str>,
    cities: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut text = String::new();
    text.push_str(title);
    text.push(' ');
    text.push_str(&html_to_text(description));
    if let Some(name) = organization_name {
        text.push(' ');
        text.push_str(name);
    }
    for city in cities {
        text.push(' ');
        text.push_str(city);
    }
    let folded = fold(&text);
    let mut document = String::with_capacity(folded.len());
    for word in words(&folded) {
        if !document.is_empty() {
            document.push(' ');
        }
        document.push_str(word);
    }
    document
}

/// The words of `to_tsvector('simple', document)` for a [`document`] of plain ASCII words,
/// found without the database: each word with its position (1, 2, 3…), sorted by word in byte
/// order and, for one word, by position. The vector's lexemes are the runs of equal words. A
/// bulk load sends the vector made of them instead of letting the database parse every
/// mission's text.
///
/// For such a document PostgreSQL's default parser yields each space-separated word as one token
/// (letters: `asciiword`, letters and digits: `numword`, digits: `uint`), which the `simple`
/// dictionary keeps as it is, at positions 1, 2, 3…; the vector lists each word once, in byte
/// order, with its positions. `None` where that reasoning stops holding, for the database to
/// parse: a character other than `a-z`, `0-9` and single spaces, a word of 2,048 bytes or more
/// (PostgreSQL drops it), more than 16,383 words (positions stop there) or a word seen more than
/// 256 times (PostgreSQL keeps the first 256 positions).
pub fn simple_positions(document: &str) -> Option<Vec<(&str, u16)>> {
    const MAX_WORD: usize = 2047;
    const MAX_POSITION: usize = 16_383;
    const MAX_POSITIONS: usize = 256;
    if !document
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b' ')
    {
        return None;
    }
    let mut words: Vec<(&str, u16)> = Vec::new();
    for (i, word) in document.split(' ').enumerate() {
        if word.is_empty() || word.len() > MAX_WORD || i >= MAX_POSITION {
            return None;
        }
        words.push((word, i as u16 + 1));
    }
    // Stable: each word's positions stay in increasing order.
    words.sort_by(|a, b| a.0.cmp(b.0));
    let mut run = 0;
    for i in 0..words.len() {
        run = if i > 0 && words[i - 1].0 == words[i].0 {
            run + 1
        } else {
            1
        };
        if run > MAX_POSITIONS {
            return None;
        }
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_positions_sort_the_words_and_keep_each_ones_positions() {
        assert_eq!(
            simple_positions("des a 2e des de 12 deroule a"),
            Some(vec![
                ("12", 6),
                ("2e", 3),
                ("a", 2),
                ("a", 8),
                ("de", 5),
                ("deroule", 7),
                ("des", 1),
                ("des", 4)
            ])
        );
        assert_eq!(simple_positions(""), None);
        // Left to the database: what its parser could split or treat otherwise.
        for document in ["saint-etienne", "a  b", "caf\u{e9}", "Lyon", "a.b", "x@y"] {
            assert_eq!(simple_positions(document), None, "{document}");
        }
        let long = "a".repeat(2048);
        assert_eq!(simple_positions(&long), None);
        let many = vec!["a"; 257].join(" ");
        assert_eq!(simple_positions(&many), None);
        let at_most = vec!["a"; 256].join(" ");
        assert!(simple_positions(&at_most).is_some_and(|v| v.last() == Some(&("a", 256))));
    }

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(
            fold("Écologie À SAINT-ÉTIENNE, cœur"),
            "ecologie a saint-etienne, coeur"
        );
        assert_eq!(
            tokens("Mémoire & citoyenneté!"),
            vec!["memoire", "citoyennete"]
        );
    }

    #[test]
    fn html_loses_its_tags_and_its_entities() {
        assert_eq!(
            html_to_text("<b>a</b> &amp; b&nbsp;&lt;c&gt;"),
            " a  & b <c>"
        );
        assert_eq!(html_to_text("<p>Plain</p>"), " Plain ");
    }

    #[test]
    fn documents_hold_plain_words_of_every_part() {
        let doc = document(
            "Aide aux devoirs",
            "<p>Soutien&nbsp;scolaire</p>",
            Some("Les Restos"),
            ["Saint-Étienne"],
        );
        assert_eq!(
            doc,
            "aide aux devoirs soutien scolaire les restos saint etienne"
        );
    }
}
