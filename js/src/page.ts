// The verify page: a patient drops a bundle (and optionally the record and a key history) and
// reads, per property, what was proven, in plain words. Nothing leaves the page unless the
// reader enters a chain URL (then only JSON-RPC reads of the anchors go to that URL).

import { loadBundle } from "./bundle.js";
import { RpcChain, httpTransport } from "./chain.js";
import { parseAddress } from "./crypto.js";
import { OkeiosError, refusalClass } from "./errors.js";
import { loadAuthority } from "./keyhistory.js";
import { toHex } from "./bytes.js";
import { Authority } from "./identity.js";
import { CHAIN, OFFLINE, Policy, Report, Verdict, headline, outcome, reportToDict, verifyBundle } from "./verify.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const PROPERTY_NAMES: Record<string, string> = {
  integrity: "The contents",
  authenticity: "Who signed it",
  inclusion: "The publisher's log",
  anchoring: "The public timestamp (blockchain)",
  consistency: "One history, never rewritten",
  confidentiality: "Privacy of the full record",
};

const PASS_WORDS: Record<string, (r: Report) => string> = {
  integrity: () => "The fields shown below are exactly the ones that were signed: not one character was changed.",
  authenticity: (r) => `The event was signed by ${r.author}.`,
  inclusion: (r) => `It is recorded in the one log of publisher ${r.publisher}: the publisher signed a summary of ${r.treeSize} log entries that contains it.`,
  anchoring: (r) => `The publisher's log was published on a blockchain${r.anchoredTime !== null ? ` on ${new Date(Number(r.anchoredTime) * 1000).toUTCString()}` : ""}: it existed then and cannot be back-dated.`,
  consistency: () => "The history this proof belongs to is the one the publisher kept extending on the blockchain; it was not rewritten.",
  confidentiality: () => "The full record is kept encrypted; this proof shows only the fields listed below.",
};

const REASON_WORDS: Record<string, string> = {
  "digests-malformed": "The list of field fingerprints is damaged.",
  "commitment-mismatch": "The field fingerprints do not match what was signed: the contents were changed.",
  "field-conflict": "The fields shown contradict each other: they cannot come from one record.",
  "field-not-committed": "A field shown was not part of what was signed: it was changed or added.",
  "field-malformed": "A field shown is not in the exact form that was signed.",
  "record-malformed": "The record file given is not valid JSON.",
  "record-mismatch": "The record file given is not the one that was signed.",
  "record-not-verifiable": "The proof shows only some fields, so it cannot vouch for a whole record file.",
  "signature-malformed": "The signature is damaged or not in the one accepted form.",
  "signature-mismatch": "The signature was not made by the author the event names: it is forged or altered.",
  "author-not-trusted": "The author is not one you said you trust.",
  "checkpoint-signature-malformed": "The publisher's signature is damaged.",
  "checkpoint-signature-mismatch": "The publisher's signature was not made by the publisher it names.",
  "publisher-not-trusted": "The publisher is not one you said you trust.",
  "log-mismatch": "The event and the publisher's summary belong to different logs.",
  "log-not-bound": "The log is not the publisher's one log: a second history or a copy by someone else.",
  "tree-size-mismatch": "The proof of inclusion is for another size of log than the publisher signed.",
  "proof-malformed": "The proof of inclusion is damaged.",
  "root-mismatch": "The proof of inclusion does not lead to the publisher's signed summary: the event is not in that log.",
  "no-chain": "Not checked: no blockchain address was given.",
  "chain-unavailable": "The blockchain could not be reached: this could not be decided (it is not a forgery, nor a pass).",
  "chain-mismatch": "The blockchain that answered is not the one you pinned.",
  "registry-not-trusted": "The proof points at another registry or chain than the one you pinned.",
  "registry-missing": "There is no registry contract at the pinned address on this chain.",
  "not-anchored": "The publisher never published this state of its log on the blockchain.",
  "anchor-root-mismatch": "The blockchain holds a different state for this log: the publisher signed two histories.",
  "not-final": "The blockchain entry is too recent to be final yet.",
  "inconsistent-history": "The proof that the history was only extended does not hold.",
  "extension-not-anchored": "The later state the proof claims was not published on the blockchain.",
  "consistency-unproven": "Nothing links this proof to the history published on the blockchain.",
  "not-encrypted": "The event does not commit to an encrypted copy of the record.",
  "ciphertext-mismatch": "The encrypted copy given is not the one that was signed.",
  "author-not-authorised": "The author was not authorised by the organisation at that time.",
  "author-expired": "The author's authorisation had ended.",
  "author-revoked": "The author's key was revoked by the organisation.",
  "author-role-not-trusted": "The author signed in a role you do not accept.",
  "authorisations-missing": "The organisation's key history is needed to check this author: add it.",
  "publisher-retired": "The publisher key had handed the log over before this summary.",
  "key-history-incomplete": "The key history given cannot be shown complete: a later revocation may be missing. Ask the organisation for its full key history.",
};

const STATUS_WORDS: Record<string, string> = { pass: "Verified", fail: "Failed", skipped: "Not checked", undecided: "Could not decide" };

/** Control and bidirectional characters shown as visible escapes (text is inserted with
 * textContent, so nothing is ever interpreted as markup). */
const visible = (s: string) =>
  s.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

function el(tag: string, cls: string | null, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function readFile(input: HTMLInputElement): Promise<Uint8Array | null> {
  const f = input.files?.[0];
  return f ? new Uint8Array(await f.arrayBuffer()) : null;
}

function addresses(text: string, what: string): Set<string> | "any" {
  const items = text.split(/[\s,]+/).filter(Boolean);
  if (!items.length) return "any";
  return new Set(items.map((t) => {
    const a = parseAddress(t);
    if (a === null) throw new OkeiosError("UsageError", `${what}: "${t}" is not a valid address`);
    return a;
  }));
}

function policy(): Policy {
  const orgText = $<HTMLInputElement>("org").value.trim();
  const orgs = new Map<string, Set<string> | null>();
  if (orgText) {
    const a = parseAddress(orgText);
    if (a === null) throw new OkeiosError("UsageError", `organisation: "${orgText}" is not a valid address`);
    orgs.set(a, null);
  }
  let authors = addresses($<HTMLTextAreaElement>("authors").value, "authors");
  let publishers = addresses($<HTMLTextAreaElement>("publishers").value, "publishers");
  if (orgs.size) {
    if (authors === "any") authors = new Set();
    if (publishers === "any") publishers = new Set();
  }
  const url = $<HTMLInputElement>("chain").value.trim();
  let chainId: bigint | null = null, registry: string | null = null;
  if (url) {
    const id = $<HTMLInputElement>("chainid").value.trim();
    if (!/^[0-9]+$/.test(id) || BigInt(id) <= 0n) throw new OkeiosError("UsageError", "the chain id must be a positive number");
    chainId = BigInt(id);
    registry = parseAddress($<HTMLInputElement>("registry").value.trim());
    if (registry === null) throw new OkeiosError("UsageError", "the registry must be a valid address");
  }
  return {
    authors, publishers, organisations: orgs, chainId, registry, confirmations: 1n,
    required: new Set([...OFFLINE, ...(chainId !== null ? CHAIN : [])]),
  };
}

function showVerdict(list: HTMLElement, v: Verdict, r: Report): void {
  const row = el("li", `verdict ${v.status}`);
  row.dataset.property = v.property;
  row.append(el("span", "badge", STATUS_WORDS[v.status]), el("strong", null, PROPERTY_NAMES[v.property]));
  const words = v.status === "pass" ? PASS_WORDS[v.property](r) : (v.reason !== null ? REASON_WORDS[v.reason] : undefined) ?? v.reason ?? "";
  row.append(el("p", null, visible(words)));
  if (v.detail) row.append(el("p", "detail", visible(v.detail)));
  list.append(row);
}

function render(r: Report, ms: number, trustNote: string): void {
  const out = $("result");
  out.replaceChildren();
  const o = outcome(r);
  const head = el("div", `headline ${o}`);
  head.dataset.outcome = o;
  head.append(el("h2", null, o === "pass" ? "Verified" : o === "fail" ? "Not verified: this proof does not hold" : "Could not decide"));
  head.append(el("p", null, headline(r)));
  if (trustNote) head.append(el("p", "note", trustNote));
  out.append(head);
  const facts = el("dl", "facts");
  for (const [k, v] of [["Event", `${r.kind} (${toHex(r.eventId)})`], ["Author", r.author], ["Publisher", r.publisher]])
    facts.append(el("dt", null, k), el("dd", null, visible(v)));
  out.append(facts);
  const list = el("ul", "verdicts");
  r.verdicts.forEach((v) => showVerdict(list, v, r));
  out.append(list);
  const integrity = r.verdicts.find((v) => v.property === "integrity")!;
  out.append(el("h3", null, `Disclosed fields (${r.disclosed.length})`));
  if (integrity.status !== "pass") out.append(el("p", "note", "The fields are not shown: their integrity did not verify."));
  else if (!r.disclosed.length) out.append(el("p", "note", "This proof shows no field of the record."));
  else {
    const table = el("table", "fields");
    table.append(Object.assign(el("tr", null), { innerHTML: "<th>Field</th><th>Value</th>" }));
    for (const [path, value] of r.disclosed) {
      const tr = el("tr", null);
      tr.append(el("td", "path", visible(path)), el("td", "value", visible(value)));
      table.append(tr);
    }
    out.append(table);
  }
  const details = el("details", null);
  details.append(el("summary", null, "Technical report (JSON)"), el("pre", null, visible(JSON.stringify(reportToDict(r, true), null, 2))));
  out.append(details);
  $("timing").textContent = `Checked in ${ms.toFixed(1)} ms, on this device.`;
  document.body.dataset.ms = String(ms);
}

function renderError(title: string, message: string): void {
  const out = $("result");
  out.replaceChildren();
  const head = el("div", "headline undecided");
  head.dataset.outcome = "undecided";
  head.append(el("h2", null, title), el("p", null, visible(message)));
  out.append(head);
}

let running = 0;

async function run(): Promise<void> {
  const bundleInput = $<HTMLInputElement>("bundle");
  if (!bundleInput.files?.length) return;
  const ticket = ++running;
  document.body.dataset.state = "busy";
  try {
    let p: Policy;
    try {
      p = policy();
    } catch (e) {
      renderError("Please check the settings", (e as Error).message);
      return;
    }
    const [bundleBytes, record, keys] = await Promise.all([readFile(bundleInput), readFile($("record")), readFile($("keys"))]);
    const url = $<HTMLInputElement>("chain").value.trim();
    const chain = url ? new RpcChain(httpTransport(url, 15000), Date.now() + 30000) : null;
    const t0 = performance.now();
    let authorities: Map<string, Authority> | null = null;
    if (keys !== null) {
      try {
        const a = await loadAuthority(keys, p, chain);
        authorities = new Map([[toHex(a.logId), a]]);
      } catch (e) {
        renderError("The key history was refused", (e as Error).message);
        return;
      }
    }
    let report: Report;
    try {
      report = await verifyBundle(loadBundle(bundleBytes!), p, { record, chain, authorities });
    } catch (e) {
      if (!(e instanceof OkeiosError)) throw e;
      renderError("This file is not a valid okeios proof", `${refusalClass(e.name)}: ${e.message}`);
      return;
    }
    const ms = performance.now() - t0;
    if (ticket !== running) return;
    const notes: string[] = [];
    if (p.authors === "any") notes.push("You did not list the authors you trust: any signer is accepted, so check the author's address above.");
    if (p.publishers === "any") notes.push("You did not list the publishers you trust: any publisher is accepted.");
    render(report, ms, notes.join(" "));
  } finally {
    document.body.dataset.state = "done";
  }
}

for (const id of ["bundle", "record", "keys"]) $(id).addEventListener("change", () => void run());
$("verify").addEventListener("click", () => void run());
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const files = e.dataTransfer?.files;
  if (files?.length) {
    $<HTMLInputElement>("bundle").files = files;
    void run();
  }
});
document.body.dataset.state = "ready";
