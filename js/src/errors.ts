// Typed errors, named as the reference implementation names them, so both verifiers report
// the same class of refusal for the same input.

export class OkeiosError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export const errorName = (e: unknown): string =>
  e instanceof OkeiosError ? e.name : "InternalError";

export const fail = (name: string, message: string): never => {
  throw new OkeiosError(name, message);
};

/** The refusal class of a bundle that does not decode (the spec's names). */
export function refusalClass(name: string): string {
  return (
    {
      BadMagicError: "bad-magic",
      UnsupportedVersionError: "unsupported-version",
      TruncationError: "truncated",
      TrailingGarbageError: "trailing-bytes",
      UnknownFieldError: "unknown-field",
      NonCanonicalEncodingError: "non-canonical",
    } as Record<string, string>
  )[name] ?? "malformed";
}
