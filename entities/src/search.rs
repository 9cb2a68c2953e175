//! The text that full-text search indexes, folded the same way as the words searched for.
//!
//! Both engines index [`document`]'s output (PostgreSQL as a `tsvector`, SQLite through FTS5),
//! and a search is made of [`tokens`] of the same folding, so "Lyon", "lyon" and "LYÔN" match
//! alike on both.

/// Lower-cases and strips the accents of French (and most Latin) text.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
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
    tokens(&text).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
