/**
 * Which relayed back-off values are well formed: a browser (or a frontend's retry loop) is only
 * ever given a value it can read. Anything else is dropped, never repaired.
 */

// RFC 9110 §10.2.3: delta-seconds, or an HTTP-date in its preferred form (IMF-fixdate, §5.6.7).
const RETRY_AFTER =
  /^(?:\d{1,10}|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT)$/;

// RFC 9651 (Structured Field Values): the bare items, parameters, and List and Dictionary members
// that the RateLimit and RateLimit-Policy fields (draft-ietf-httpapi-ratelimit-headers) are made of.
const KEY = '[a-z*][a-z0-9_.*-]*';
const BARE_ITEM = [
  '-?\\d{1,12}\\.\\d{1,3}', // decimal
  '-?\\d{1,15}', // integer
  '"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\["\\\\])*"', // string
  "[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]*", // token
  ':[A-Za-z0-9+/=]*:', // byte sequence
  '\\?[01]', // boolean
].join('|');
const PARAMETERS = `(?:; *${KEY}(?:=(?:${BARE_ITEM}))?)*`;
const ITEM = `(?:${BARE_ITEM})${PARAMETERS}`;
const INNER_LIST = `\\((?: *${ITEM}(?: +${ITEM})*)? *\\)${PARAMETERS}`;
const LIST_MEMBER = `(?:${ITEM}|${INNER_LIST})`;
const DICTIONARY_MEMBER = `${KEY}(?:=${LIST_MEMBER}|${PARAMETERS})`;
const membersOf = (member: string) =>
  new RegExp(`^ *(?:${member})(?:[ \\t]*,[ \\t]*(?:${member}))* *$`);
const SF_LIST = membersOf(LIST_MEMBER);
const SF_DICTIONARY = membersOf(DICTIONARY_MEMBER);

/** Whether a back-off header (already known to be one) may be relayed with this value. */
export function validBackOff(name: string, value: string): boolean {
  switch (name.toLowerCase()) {
    case 'retry-after':
      return RETRY_AFTER.test(value);
    case 'ratelimit':
    case 'ratelimit-policy':
      // A List in the current draft, a Dictionary in earlier ones.
      return SF_LIST.test(value) || SF_DICTIONARY.test(value);
    default:
      // X-RateLimit-*: no standard, in practice whole numbers (a limit, a count, seconds or a time).
      return /^\d+$/.test(value);
  }
}
