//! Rendering of EC2 Query responses: the `<{Action}Response>` envelope in EC2's 2016-11-15
//! namespace with its `<requestId>`, list shapes as `<fooSet><item>…</item></fooSet>`, and
//! EC2's error document (`<Response><Errors><Error>…</Error></Errors><RequestID>…`).
//!
//! The action modules write element content through [`Xml`]; nothing here knows the model.

use super::error::ApiError;

/// The XML namespace of the EC2 API version the SDKs send (`Version=2016-11-15`).
pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// A tiny XML writer that escapes text and keeps tags balanced by construction.
#[derive(Debug, Default)]
pub struct Xml {
    buf: String,
}

impl Xml {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// `<tag>text</tag>`, text escaped.
    pub fn leaf(&mut self, tag: &str, text: impl std::fmt::Display) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        escape_into(&mut self.buf, &text.to_string());
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// A leaf only when there is a value.
    pub fn leaf_opt(&mut self, tag: &str, text: Option<impl std::fmt::Display>) -> &mut Self {
        if let Some(t) = text {
            self.leaf(tag, t);
        }
        self
    }

    /// `<tag>…</tag>` around what `f` writes.
    pub fn node(&mut self, tag: &str, f: impl FnOnce(&mut Xml)) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        f(self);
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag><item>…</item>…</tag>`: EC2's list shape. An empty list is still written, as EC2 does.
    pub fn set<T>(
        &mut self,
        tag: &str,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut Xml, T),
    ) -> &mut Self {
        self.node(tag, |x| {
            for item in items {
                x.node("item", |x| f(x, item));
            }
        })
    }

    /// `<tagSet>` from key/value pairs.
    pub fn tag_set<'a>(
        &mut self,
        tags: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> &mut Self {
        self.set("tagSet", tags, |x, (k, v)| {
            x.leaf("key", k).leaf("value", v);
        })
    }

    /// The content written so far.
    pub fn into_string(self) -> String {
        self.buf
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// The success envelope for `action`.
pub fn response(action: &str, request_id: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 200);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    out.push_str(action);
    out.push_str("Response xmlns=\"");
    out.push_str(NAMESPACE);
    out.push_str("\">\n    <requestId>");
    out.push_str(request_id);
    out.push_str("</requestId>");
    out.push_str(body);
    out.push_str("</");
    out.push_str(action);
    out.push_str("Response>");
    out
}

/// EC2's error document. Note `RequestID` (capital D) here, unlike `requestId` in successes.
pub fn error(err: &ApiError, request_id: &str) -> String {
    let mut x = Xml::new();
    x.node("Errors", |x| {
        x.node("Error", |x| {
            x.leaf("Code", err.code).leaf("Message", &err.message);
        });
    });
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>{}<RequestID>{request_id}</RequestID></Response>",
        x.into_string()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_wraps_lists_in_items() {
        let mut x = Xml::new();
        x.set("routeSet", ["a<b", "c&d"], |x, s| {
            x.leaf("destinationCidrBlock", s);
        });
        assert_eq!(
            x.into_string(),
            "<routeSet><item><destinationCidrBlock>a&lt;b</destinationCidrBlock></item>\
             <item><destinationCidrBlock>c&amp;d</destinationCidrBlock></item></routeSet>"
        );
    }

    #[test]
    fn error_document_has_code_message_and_request_id() {
        let e = error(&ApiError::request_limit_exceeded(), "r-1");
        assert!(e.contains("<Response><Errors><Error><Code>RequestLimitExceeded</Code>"));
        assert!(e.ends_with("<RequestID>r-1</RequestID></Response>"));
    }
}
