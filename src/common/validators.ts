import { ValidateBy, ValidationOptions, buildMessage } from 'class-validator';

// RFC 3339 date-time: a full date, a full time and a mandatory offset. class-validator's
// IsISO8601/IsRFC3339 accept date-only strings, missing offsets or Feb 30, hence this one.
const RFC3339_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(\.\d{1,9})?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;
/** The longest string it matches: nine fraction digits and a numeric offset. */
export const RFC3339_DATE_TIME_MAX_LENGTH = '2024-12-01T12:34:56.123456789+01:00'.length;

// Not Date.UTC: it maps years 0-99 to 1900-1999, and 1900 is not a leap year but 0000 is.
function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

const FRACTION = /\.\d+/;

/**
 * Date.parse stops at milliseconds, so .0001Z and .0002Z would tie: whole seconds are compared as
 * numbers, then the fractions as nine-digit strings (equal length, so text order is number order).
 */
function isLater(value: string, other: string): boolean {
  const a = Date.parse(value.replace(FRACTION, ''));
  const b = Date.parse(other.replace(FRACTION, ''));
  return a !== b ? a > b : fractionOf(value) > fractionOf(other);
}

function fractionOf(value: string): string {
  return (FRACTION.exec(value)?.[0].slice(1) ?? '').padEnd(9, '0');
}

export function isRfc3339DateTime(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const match = RFC3339_DATE_TIME.exec(value);
  if (!match) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

export function IsRfc3339DateTime(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isRfc3339DateTime',
      validator: {
        validate: isRfc3339DateTime,
        defaultMessage: buildMessage(
          (each) =>
            `${each}$property must be an ISO 8601 date-time with a time zone, e.g. 2024-12-01T12:34:56.000Z`,
          options,
        ),
      },
    },
    options,
  );
}

/** Rejects what IsInt + IsPositive let through: strings, 1e300, integers past 2^53. */
export function IsPositiveSafeInteger(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isPositiveSafeInteger',
      validator: {
        validate: (value) => typeof value === 'number' && Number.isSafeInteger(value) && value > 0,
        defaultMessage: buildMessage(
          (each) =>
            `${each}$property must be a positive integer (at most ${Number.MAX_SAFE_INTEGER})`,
          options,
        ),
      },
    },
    options,
  );
}

/** The property is a date-time strictly later than the named sibling; silent while either is invalid. */
export function IsAfterProperty(sibling: string, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isAfterProperty',
      constraints: [sibling],
      validator: {
        validate: (value, args) => {
          const other = (args?.object as Record<string, unknown>)[sibling];
          if (!isRfc3339DateTime(value) || !isRfc3339DateTime(other)) return true;
          return isLater(value, other);
        },
        defaultMessage: buildMessage(
          (each) => `${each}$property must be later than $constraint1`,
          options,
        ),
      },
    },
    options,
  );
}
