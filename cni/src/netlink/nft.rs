//! nftables set elements over nfnetlink, without spawning `nft`.
//!
//! Starting the `nft` binary costs ~4 ms and a ruleset cache fetch; adding one element to a set
//! is a few microseconds in the kernel. The plugin's per-pod masquerade state is exactly one set
//! element per address, so ADD and DEL build one nfnetlink batch (`BATCH_BEGIN … BATCH_END`),
//! which the kernel commits as a single atomic transaction. The static table, chain, sets and
//! rules are created by [`crate::masq`] through `nft -f -` once.
//!
//! Messages are encoded by hand: only `NEWSETELEM`/`DELSETELEM` with a key and a comment are
//! needed, and the layout is fixed by `linux/netfilter/nf_tables.h`.

use std::io;
use std::net::IpAddr;

use netlink_sys::{SocketAddr, protocols::NETLINK_NETFILTER};

use crate::error::{Error, Result};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFPROTO_INET: u8 = 1;
const NLMSG_ERROR: u16 = 2;

const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;

const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_USERDATA: u16 = 6;
const NFTA_DATA_VALUE: u16 = 1;
/// libnftnl's `NFTNL_UDATA_SET_ELEM_COMMENT`: what `nft list` shows as `comment "…"`.
const UDATA_SET_ELEM_COMMENT: u8 = 0;

/// One operation on one element of an `inet` set.
#[derive(Debug, Clone)]
pub enum ElemOp<'a> {
    /// Add (no error if present).
    Add {
        /// The set (`pods4`/`pods6`).
        set: &'a str,
        /// The element.
        addr: IpAddr,
        /// Shown by `nft list` (the attachment).
        comment: &'a str,
    },
    /// Delete (error `ENOENT` if absent: pair it with an `Add` to make it idempotent).
    Delete {
        /// The set.
        set: &'a str,
        /// The element.
        addr: IpAddr,
    },
}

/// Applies `ops` on `table` (family `inet`) in one atomic transaction.
///
/// # Errors
/// The first error the kernel reports (the whole batch is then rolled back by the kernel);
/// `ENOENT` means the table or set does not exist.
pub fn apply(table: &str, ops: &[ElemOp<'_>]) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let mut sock = netlink_sys::Socket::new(NETLINK_NETFILTER).map_err(|e| err("socket", e))?;
    sock.bind_auto().map_err(|e| err("bind", e))?;
    sock.connect(&SocketAddr::new(0, 0))
        .map_err(|e| err("connect", e))?;

    let mut buf = Vec::with_capacity(256 * (ops.len() + 2));
    let mut seq = 1u32;
    push_msg(
        &mut buf,
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        seq,
        0,
        NFNL_SUBSYS_NFTABLES,
        |_| {},
    );
    let first = seq + 1;
    for op in ops {
        seq += 1;
        let (kind, flags, set, addr, comment) = match op {
            ElemOp::Add { set, addr, comment } => (
                NFT_MSG_NEWSETELEM,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
                *set,
                *addr,
                Some(*comment),
            ),
            ElemOp::Delete { set, addr } => (
                NFT_MSG_DELSETELEM,
                NLM_F_REQUEST | NLM_F_ACK,
                *set,
                *addr,
                None,
            ),
        };
        push_msg(
            &mut buf,
            (NFNL_SUBSYS_NFTABLES << 8) | kind,
            flags,
            seq,
            NFPROTO_INET,
            0,
            |b| {
                put_attr(b, NFTA_SET_ELEM_LIST_TABLE, &strz(table));
                put_attr(b, NFTA_SET_ELEM_LIST_SET, &strz(set));
                nest(b, NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
                    nest(b, NFTA_LIST_ELEM, |b| {
                        nest(b, NFTA_SET_ELEM_KEY, |b| {
                            let key = match addr {
                                IpAddr::V4(a) => a.octets().to_vec(),
                                IpAddr::V6(a) => a.octets().to_vec(),
                            };
                            put_attr(b, NFTA_DATA_VALUE, &key);
                        });
                        if let Some(c) = comment {
                            let mut udata = vec![UDATA_SET_ELEM_COMMENT];
                            let text = strz(c);
                            udata.push(text.len().min(255) as u8);
                            udata.extend_from_slice(&text[..text.len().min(255)]);
                            put_attr(b, NFTA_SET_ELEM_USERDATA, &udata);
                        }
                    });
                });
            },
        );
    }
    let last = seq;
    seq += 1;
    push_msg(
        &mut buf,
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        seq,
        0,
        NFNL_SUBSYS_NFTABLES,
        |_| {},
    );
    sock.send(&buf, 0).map_err(|e| err("send batch", e))?;

    // Every message carries NLM_F_ACK, so the kernel answers each one: an ACK, or the error
    // that aborted the whole transaction. Read until all are accounted for.
    let mut pending: Vec<u32> = (first..=last).collect();
    let mut first_error: Option<io::Error> = None;
    while !pending.is_empty() {
        let (data, _) = sock.recv_from_full().map_err(|e| err("recv", e))?;
        let mut off = 0;
        while off + 16 <= data.len() {
            let len = u32_at(&data, off) as usize;
            let kind = u16::from_ne_bytes([data[off + 4], data[off + 5]]);
            let mseq = u32_at(&data, off + 8);
            if len < 16 || off + len > data.len() {
                break;
            }
            if kind == NLMSG_ERROR && len >= 20 {
                let code = i32::from_ne_bytes([
                    data[off + 16],
                    data[off + 17],
                    data[off + 18],
                    data[off + 19],
                ]);
                pending.retain(|s| *s != mseq);
                if code != 0 && first_error.is_none() {
                    first_error = Some(io::Error::from_raw_os_error(-code));
                }
            }
            off += (len + 3) & !3;
        }
        if first_error.is_some() {
            // After an abort the kernel may not ACK the rest; one error is the answer.
            break;
        }
    }
    match first_error {
        None => Ok(()),
        Some(e) => Err(err("set element transaction", e)),
    }
}

fn err(op: &str, source: io::Error) -> Error {
    Error::Netlink {
        op: format!("nftables {op}"),
        source,
    }
}

fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]])
}

fn strz(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn pad(b: &mut Vec<u8>) {
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
}

fn put_attr(b: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = (4 + value.len()) as u16;
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(value);
    pad(b);
}

fn nest(b: &mut Vec<u8>, kind: u16, body: impl FnOnce(&mut Vec<u8>)) {
    let start = b.len();
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    body(b);
    let len = (b.len() - start) as u16;
    b[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

/// Appends one netlink message with an `nfgenmsg` header; `res_id` is big-endian on the wire.
fn push_msg(
    b: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    body: impl FnOnce(&mut Vec<u8>),
) {
    let start = b.len();
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.push(family);
    b.push(0); // NFNETLINK_V0
    b.extend_from_slice(&res_id.to_be_bytes());
    body(b);
    pad(b);
    let len = (b.len() - start) as u32;
    b[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}
