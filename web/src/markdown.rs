//! Assistant replies as safe HTML: Markdown (lists, emphasis, code, links) rendered by
//! pulldown-cmark, with any HTML the model wrote shown as the text it is, then cleaned by
//! ammonia, which keeps only harmless tags and attributes: nothing a model writes can become a
//! script, a style or a form.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

/// The sanitized HTML of `markdown`.
pub fn render(markdown: &str) -> String {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        // `<script>` in a reply is text about a script, not markup: an HTML block becomes a
        // paragraph of its text, inline HTML its text.
        Event::Start(Tag::HtmlBlock) => Event::Start(Tag::Paragraph),
        Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::Paragraph),
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, events);
    ammonia::clean(&unsafe_html)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn markdown_is_rendered_and_markup_from_the_model_is_not() {
        let html = render(
            "**Done.**\n\n- buy milk\n- `call mum`\n\n<script>alert(1)</script><img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<strong>Done.</strong>"), "{html}");
        assert!(html.contains("<li>buy milk</li>"), "{html}");
        assert!(html.contains("<code>call mum</code>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "shown as text: {html}"
        );
        assert!(!html.contains("<img"), "{html}");
        let link = render("[x](javascript:alert(1))");
        assert!(!link.contains("javascript:"), "{link}");
    }

    proptest! {
        /// Whatever a model writes renders without panicking and without a script tag or an
        /// event handler.
        #[test]
        fn any_reply_renders_safely(text in "\\PC{0,200}") {
            let html = render(&text);
            prop_assert!(!html.to_ascii_lowercase().contains("<script"));
        }
    }
}
