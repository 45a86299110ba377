// The single-byte mutations of tests/jsverify/cases.py (mutations_of), in the same order.
export function* mutationsOf(data) {
  for (let i = 0; i < data.length; i++) {
    for (const value of [data[i] ^ 0x01, data[i] ^ 0x80, 0x00, 0xff]) {
      if (value === data[i]) continue;
      const m = data.slice();
      m[i] = value;
      yield m;
    }
  }
  for (let n = 0; n < data.length; n++) yield data.slice(0, n);
}

/** The outcome and each property's status and reason, or the refusal class (cases.py summary). */
export function summary(entry) {
  if (entry.error !== undefined) return `${entry.result}:${String(entry.error).split(":")[0]}`;
  const verdicts = Object.entries(entry.verdicts).map(([k, v]) => `${k}=${v.result}/${v.reason ?? ""}`).join(",");
  return `${entry.result}:${verdicts}`;
}
