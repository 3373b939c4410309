//! Server-sent events as the providers stream them: events separated by a blank line, each
//! with an optional `event:` name and one or more `data:` lines. Bytes arrive in arbitrary
//! chunks; the parser keeps what is not yet a whole event.

#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

impl SseParser {
    /// Feed a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        loop {
            let crlf = self.buf.windows(4).position(|w| w == b"\r\n\r\n");
            let lf = self.buf.windows(2).position(|w| w == b"\n\n");
            let (end, sep) = match (crlf, lf) {
                (Some(c), Some(l)) if c < l => (c, 4),
                (_, Some(l)) => (l, 2),
                (Some(c), None) => (c, 4),
                (None, None) => break,
            };
            let raw: Vec<u8> = self.buf.drain(..end + sep).collect();
            if let Some(e) = parse_event(&String::from_utf8_lossy(&raw[..end])) {
                out.push(e);
            }
        }
        out
    }

    /// What is left when the stream ends (a last event without the blank line).
    pub fn finish(&mut self) -> Option<Event> {
        let rest = std::mem::take(&mut self.buf);
        parse_event(&String::from_utf8_lossy(&rest))
    }
}

fn parse_event(block: &str) -> Option<Event> {
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with(':') {
            continue; // a comment (keep-alive)
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_string()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if event.is_none() && data.is_empty() {
        return None;
    }
    Some(Event {
        event,
        data: data.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks() {
        let stream = b"event: message_start\ndata: {\"a\":1}\n\n: ping\n\nevent: content_block_delta\r\ndata: {\"t\":\"he\"}\r\n\r\ndata: [DONE]";
        let mut p = SseParser::default();
        let mut got = Vec::new();
        for c in stream.chunks(7) {
            got.extend(p.push(c));
        }
        got.extend(p.finish());
        assert_eq!(
            got,
            vec![
                Event {
                    event: Some("message_start".into()),
                    data: "{\"a\":1}".into()
                },
                Event {
                    event: Some("content_block_delta".into()),
                    data: "{\"t\":\"he\"}".into()
                },
                Event {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
    }
}
