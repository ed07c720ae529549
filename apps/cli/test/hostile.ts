/** What the hostile-input tests (fuzz.test.ts, fuzz-library.test.ts) require of every refusal's message. */

/** Words of JavaScript's own errors that must never reach the user. */
export const INTERNAL = /TypeError|ReferenceError|RangeError|SyntaxError|undefined|\bNaN\b|Cannot read propert|DataView|is not a function|Invalid typed array|Invalid array length|\[object Object\]|ERR_[A-Z_]+|errno/;

/** Quoted text in a message is the user's own (a value from a flag or a file), which may well say 'NaN'. */
export const QUOTED = /'[^']*'/g;

/** JavaScript's words where a message uses them to explain, not leaked: "non-finite values (NaN or Infinity)". */
export const EXPLAINED = /\(NaN or Infinity\)/g;
