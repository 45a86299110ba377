// The authorisation state of an organisation's log, from its identity events
// (docs/identity.md section 3), and the rules for authors and checkpoint signers.

import { Bytes, equal, toHex } from "./bytes.js";
import { Event, deriveLogId, eventId, keyRecordId, recoverAddress } from "./crypto.js";
import { KEY_KINDS, ZERO_HASH } from "./bundle.js";
import { OkeiosError } from "./errors.js";

export const PUBLISHER_ROLE = "publisher";

interface Grant { role: string; notBefore: bigint; notAfter: bigint; index: bigint }
interface Removal { effective: bigint; index: bigint; purpose: string }
interface Handover { old: string; new: string; index: bigint }

export interface AuthorCheck { reason: string | null; detail: string }

const identityError = (m: string) => new OkeiosError("IdentityError", m);

export function when(t: bigint | null): string {
  if (t === null) return "";
  const ms = Number(t) * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return t.toString();
  return new Date(ms).toISOString().replace(/\.000Z$/, "+00:00");
}

export class Authority {
  readonly logId: Bytes;
  keys = new Map<string, { grants: Grant[]; removals: Removal[] }>();
  handovers: Handover[] = [];
  publishers: string[];
  size = 0n;
  private heads = new Map<string, Bytes>();
  private count = 0n; // identity events applied
  /** Whether every identity event carries its number (1, 2, ...) among the log's identity
   * events; a log made before numbering repeats 1. */
  numbered = true;
  /** Whether these identity events are all those of the first `size` entries: true for a
   * state built from the whole log; a key history says (keyhistory.ts). */
  complete = true;
  completeness = "built from every entry of the log";

  constructor(readonly genesis: string) {
    this.logId = deriveLogId(genesis);
    this.publishers = [genesis];
  }

  static fromEvents(genesis: string, events: [bigint, Event, Bytes][], size: bigint): Authority {
    const a = new Authority(genesis);
    let last = -1n;
    for (const [index, event, signature] of events) {
      if (index <= last) throw identityError(`log indices must increase (${index} after ${last})`);
      last = index;
      if (KEY_KINDS.includes(event.kind)) a.apply(index, event, signature);
    }
    a.size = size;
    if (a.size <= last) throw identityError(`the log has ${a.size} entries, an event sits at ${last}`);
    return a;
  }

  private apply(index: bigint, event: Event, signature: Bytes): void {
    const where = `identity event ${index} (${event.kind})`;
    if (!equal(event.logId, this.logId)) throw identityError(`${where} names another log than ${this.genesis}'s`);
    const id = eventId(event);
    let signer: string;
    try {
      signer = recoverAddress(id, signature);
    } catch (e) {
      throw identityError(`${where}: ${(e as Error).message}`);
    }
    const holder = this.publisherAt(index);
    if (signer !== event.author || signer !== holder)
      throw identityError(`${where} is signed by ${signer}; only the log's publisher key ${holder} may authorise, deauthorise or hand over`);
    const key = event.subject;
    if (!equal(event.recordId, keyRecordId(this.logId, key))) throw identityError(`${where} has a record id that is not the key's`);
    const expected = this.heads.get(key) ?? ZERO_HASH;
    if (!equal(event.previous, expected))
      throw identityError(`${where} links to ${toHex(event.previous)}: an identity event of this key is missing`);
    this.heads.set(key, id);
    this.count++;
    if (event.version !== this.count) {
      if (event.version !== 1n)
        throw identityError(`${where} is numbered ${event.version}, but it is identity event ${this.count} of those shown: an identity event is missing`);
      this.numbered = false; // a log made before numbering: every one is 1
    }
    if (event.kind === "handover") {
      if (this.publishers.includes(key)) throw identityError(`${where} hands the log to a key that held it already`);
      this.handovers.push({ old: holder, new: key, index });
      this.publishers.push(key);
      return;
    }
    if (this.publishers.includes(key)) throw identityError(`${where} is about a publisher key, which is not an author key`);
    let record = this.keys.get(key);
    if (record === undefined) {
      record = { grants: [], removals: [] };
      this.keys.set(key, record);
    }
    if (event.kind === "authorise") {
      if (!event.role || event.role === PUBLISHER_ROLE) throw identityError(`${where} has an empty or reserved role`);
      record.grants.push({ role: event.role, notBefore: event.notBefore, notAfter: event.notAfter, index });
    } else {
      if (!record.grants.length) throw identityError(`${where} removes a key that was never authorised`);
      record.removals.push({ effective: event.notBefore, index, purpose: event.purpose });
    }
  }

  /** Whether `key` is in this log's key history: it held the log, or an identity event is about it. */
  knows(key: string): boolean {
    return this.publishers.includes(key) || this.keys.has(key);
  }

  /** Whether the failed `check` of `author` outranks a policy's explicit list: the organisation
   * revoked the key, its authorisation expired, or it is a publisher key used after its
   * handover (identity rule 4). */
  overrides(author: string, check: AuthorCheck): boolean {
    return check.reason === "author-revoked" || check.reason === "author-expired" ||
      (check.reason === "author-not-authorised" && this.publishers.includes(author));
  }

  heldTheLog(key: string): boolean {
    return this.publishers.includes(key);
  }

  /** The key holding the log when entry `index` is appended. */
  publisherAt(index: bigint): string {
    let holder = this.genesis;
    for (const h of this.handovers) if (h.index < index) holder = h.new;
    return holder;
  }

  checkCheckpoint(publisher: string, treeSize: bigint): string | null {
    if (!this.publishers.includes(publisher)) return `${publisher} never held the log of ${this.genesis}`;
    const holder = treeSize ? this.publisherAt(treeSize - 1n) : this.genesis;
    if (publisher === holder) return null;
    const at = this.publishers.indexOf(publisher);
    if (at > 0 && treeSize === this.handovers[at - 1].index + 1n) return null;
    if (at < this.handovers.length && this.handovers[at].index < treeSize - 1n)
      return `${publisher} handed the log over to ${this.handovers[at].new} at entry ${this.handovers[at].index}; it may not sign a tree of ${treeSize} entries`;
    return `${publisher} did not hold the log yet at tree size ${treeSize}`;
  }

  checkAuthor(author: string, index: bigint, time: bigint, proven: bigint | null, roles: Set<string> | null): AuthorCheck {
    const holder = this.publisherAt(index);
    if (author === holder) {
      if (roles !== null && !roles.has(PUBLISHER_ROLE))
        return { reason: "author-role-not-trusted", detail: "the publisher key is not a trusted role" };
      return { reason: null, detail: `${author} held the log (publisher)` };
    }
    if (this.publishers.includes(author))
      return { reason: "author-not-authorised", detail: `${author} held the log before, not when entry ${index} was appended` };
    if (index >= this.size)
      return { reason: "author-not-authorised", detail: `entry ${index} is past the ${this.size} entries the authorisations were read from` };
    const record = this.keys.get(author);
    let grant: Grant | undefined;
    for (const g of record?.grants ?? []) if (g.index < index) grant = g;
    if (record === undefined || grant === undefined)
      return { reason: "author-not-authorised", detail: `${author} was not authorised by ${this.genesis} before entry ${index}` };
    let removal: Removal | undefined;
    for (const r of record.removals)
      if (r.index > grant.index && (removal === undefined || r.effective < removal.effective)) removal = r;
    const latest = proven === null ? time : time > proven ? time : proven;
    if (removal !== undefined && (proven === null || latest >= removal.effective)) {
      const why = proven !== null ? `the event is anchored ${when(proven)}, dated ${when(time)}` : "no anchor proves the event predates it";
      return {
        reason: "author-revoked",
        detail: `${author} was deauthorised from ${when(removal.effective)} (entry ${removal.index}${removal.purpose ? ", " + removal.purpose : ""}); ${why}`,
      };
    }
    if (time < grant.notBefore)
      return { reason: "author-not-authorised", detail: `${author} is authorised from ${when(grant.notBefore)}; the event claims ${when(time)}` };
    if (proven !== null && proven < grant.notBefore)
      // anchored before its authorisation began: it existed before then, whatever it claims
      return {
        reason: "author-not-authorised",
        detail: `${author} is authorised from ${when(grant.notBefore)}; the event is anchored ${when(proven)}, before that (it claims ${when(time)})`,
      };
    if (latest > grant.notAfter || (proven === null && time > grant.notAfter))
      return {
        reason: "author-expired",
        detail: `${author}'s authorisation as ${grant.role} ended ${when(grant.notAfter)}; the event is ${proven !== null ? "anchored" : "dated"} ${when(latest)}`,
      };
    if (roles !== null && !roles.has(grant.role))
      return { reason: "author-role-not-trusted", detail: `${author} signs as '${grant.role}', which the policy does not trust` };
    const tail = proven !== null ? "" : " (time not proven by an anchor)";
    return { reason: null, detail: `${author} authorised as ${grant.role} by ${this.genesis}${tail}` };
  }
}
