/**
 * A caller's X-Request-Id is kept when it matches this, else the BFF makes a UUID (which matches
 * it too): answers and problems carry it, and the API document gives it this pattern.
 */
export const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;
export const REQUEST_ID_MAX_LENGTH = 128;
