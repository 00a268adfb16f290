//! JSON-RPC over stdio, framed with `Content-Length` headers. `lsp-server`'s own stdio
//! transport stops reading at the first payload that is not a valid message; a language
//! server must answer such a payload with an error and go on, so the framing is ours and the
//! message types are `lsp-server`'s.

use std::io::{self, BufRead, Read, Write};
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use lsp_server::Message;
use serde_json::Value;

/// The largest payload read (a notebook with its outputs can be large, but not this large).
const MAX_PAYLOAD: usize = 1 << 30;

/// What the reader thread hands the main loop.
#[derive(Debug)]
pub enum Incoming {
    Message(Message),
    /// A frame whose payload is not a JSON-RPC message: answered with this error (the id is
    /// the payload's `id` when it had one, else null).
    Invalid {
        id: Value,
        code: i32,
        message: String,
    },
}

/// What the main loop hands the writer thread.
#[derive(Debug)]
pub enum Outgoing {
    Message(Message),
    /// An error response that `lsp-server`'s types cannot carry (a null id).
    Raw(Value),
}

/// Reads frames until end of input (or an unrecoverable I/O error) and sends them on.
pub fn read_loop(mut input: impl BufRead, sender: Sender<Incoming>) -> io::Result<()> {
    loop {
        let Some(payload) = read_frame(&mut input)? else {
            return Ok(());
        };
        let incoming = parse(&payload);
        let exit =
            matches!(&incoming, Incoming::Message(Message::Notification(n)) if n.method == "exit");
        if sender.send(incoming).is_err() || exit {
            return Ok(());
        }
    }
}

/// Writes messages until the channel closes.
pub fn write_loop(mut output: impl Write, receiver: Receiver<Outgoing>) -> io::Result<()> {
    for outgoing in receiver {
        match outgoing {
            Outgoing::Message(message) => message.write(&mut output)?,
            Outgoing::Raw(value) => {
                let text = value.to_string();
                write!(output, "Content-Length: {}\r\n\r\n{text}", text.len())?;
                output.flush()?;
            }
        }
    }
    Ok(())
}

/// Starts the reader (stdin) and writer (stdout) threads.
pub fn stdio() -> io::Result<(Receiver<Incoming>, Sender<Outgoing>, Threads)> {
    let (in_tx, in_rx) = crossbeam_channel::unbounded();
    let (out_tx, out_rx) = crossbeam_channel::unbounded();
    let reader = thread::Builder::new()
        .name("mleng-lsp-reader".into())
        .spawn(move || read_loop(io::stdin().lock(), in_tx))?;
    let writer = thread::Builder::new()
        .name("mleng-lsp-writer".into())
        .spawn(move || write_loop(io::stdout().lock(), out_rx))?;
    Ok((in_rx, out_tx, Threads { reader, writer }))
}

pub struct Threads {
    reader: thread::JoinHandle<io::Result<()>>,
    writer: thread::JoinHandle<io::Result<()>>,
}

impl Threads {
    /// Waits for the writer to flush everything. The reader is not waited for: after `exit`
    /// it has stopped, and if the client never sent `exit` it may be blocked on stdin.
    pub fn join_writer(self) -> io::Result<()> {
        drop(self.reader);
        self.writer
            .join()
            .map_err(|_| io::Error::other("the writer thread panicked"))?
    }
}

/// One frame's payload; `None` at a clean end of input. Headers other than
/// `Content-Length` are ignored; a frame without it is skipped (its headers are consumed).
fn read_frame(input: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    loop {
        let mut length: Option<usize> = None;
        let mut saw_header = false;
        loop {
            let mut line = String::new();
            if input.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if saw_header {
                    break;
                }
                continue; // stray blank lines between frames
            }
            saw_header = true;
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().ok();
                }
            }
        }
        let Some(length) = length else {
            eprintln!("mleng server: skipped a frame without a valid Content-Length header");
            continue;
        };
        if length > MAX_PAYLOAD {
            // Skipped without holding it in memory: a payload this large is a client's bug.
            let skipped = io::copy(&mut input.take(length as u64), &mut io::sink())?;
            eprintln!(
                "mleng server: skipped a {skipped}-byte payload (the limit is {MAX_PAYLOAD})"
            );
            return Ok(Some(b"{\"payload\": \"too large\"}".to_vec()));
        }
        let mut payload = vec![0; length];
        input.read_exact(&mut payload)?;
        return Ok(Some(payload));
    }
}

fn parse(payload: &[u8]) -> Incoming {
    match serde_json::from_slice::<Message>(payload) {
        Ok(message) => Incoming::Message(message),
        Err(err) => match serde_json::from_slice::<Value>(payload) {
            Ok(value) => Incoming::Invalid {
                id: value.get("id").cloned().unwrap_or(Value::Null),
                code: lsp_server::ErrorCode::InvalidRequest as i32,
                message: format!("not a JSON-RPC request, response or notification: {err}"),
            },
            Err(err) => Incoming::Invalid {
                id: Value::Null,
                code: lsp_server::ErrorCode::ParseError as i32,
                message: format!("not JSON: {err}"),
            },
        },
    }
}

/// The error response for an invalid payload.
pub fn error_response(id: Value, code: i32, message: String) -> Outgoing {
    Outgoing::Raw(serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn bad_payloads_become_errors_and_reading_goes_on() {
        let input = [
            frame("{not json"),
            frame(r#"{"id": 7, "jsonrpc": "2.0"}"#),
            "X-Other: 1\r\n\r\n".to_string(),
            frame(r#"{"jsonrpc":"2.0","method":"exit"}"#),
        ]
        .concat();
        let (tx, rx) = crossbeam_channel::unbounded();
        read_loop(io::Cursor::new(input), tx).unwrap();
        let got: Vec<Incoming> = rx.iter().collect();
        assert_eq!(got.len(), 3);
        assert!(matches!(
            &got[0],
            Incoming::Invalid {
                id: Value::Null,
                code: -32700,
                ..
            }
        ));
        assert!(matches!(&got[1], Incoming::Invalid { code: -32600, id, .. } if id == 7));
        assert!(
            matches!(&got[2], Incoming::Message(Message::Notification(n)) if n.method == "exit")
        );
    }

    #[test]
    fn a_huge_length_is_not_allocated() {
        let input = "Content-Length: 99999999999999\r\n\r\n{}".to_string();
        let (tx, rx) = crossbeam_channel::unbounded();
        read_loop(io::Cursor::new(input), tx).unwrap();
        let got: Vec<Incoming> = rx.iter().collect();
        assert!(matches!(&got[..], [Incoming::Invalid { code: -32600, .. }]));
    }

    #[test]
    fn raw_errors_are_framed() {
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(error_response(Value::Null, -32700, "x".into()))
            .unwrap();
        drop(tx);
        let mut out = Vec::new();
        write_loop(&mut out, rx).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Content-Length: "));
        assert!(text.contains(r#""id":null"#));
    }
}
