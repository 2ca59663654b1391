import { ProblemException } from '../../common/problem';
import { ValidateRequestPipe } from '../../common/validate-request.pipe';
import { CreatePreventiveInterventionDto } from './create-preventive-intervention.dto';

type Body = Record<string, unknown>;

/** The example body of the vendor's page for the endpoint. */
const VENDOR_EXAMPLE: Readonly<Body> = {
  scheduledStart: '2024-12-01T12:34:56.000Z',
  scheduledEnd: '2024-12-05T14:56:23.000Z',
  creationStatus: 1,
  routineId: 1,
};

const FIELDS = ['scheduledStart', 'scheduledEnd', 'creationStatus', 'routineId'] as const;

function validate(body: unknown): unknown {
  return new ValidateRequestPipe().transform(body, {
    type: 'body',
    metatype: CreatePreventiveInterventionDto,
  });
}

function problemFor(body: unknown): ProblemException {
  let result: unknown;
  try {
    result = validate(body);
  } catch (error) {
    if (error instanceof ProblemException) return error;
    throw error;
  }
  throw new Error(
    `expected a ProblemException, the body was accepted as ${JSON.stringify(result)}`,
  );
}

function expectValidationFailure(body: unknown, field: string): void {
  const { problem } = problemFor(body);
  expect(problem.status).toBe(400);
  expect(problem.type).toMatch(/validation-failed$/);
  expect(problem.title).toBe('Validation failed');
  const errors = problem.errors ?? [];
  // Exactly the one defective field is reported, with a message that names it.
  expect(errors.map((e) => e.field)).toEqual([field]);
  for (const error of errors) {
    expect(error.message).toContain(field);
  }
}

const withField = (field: string, value: unknown): Body => ({ ...VENDOR_EXAMPLE, [field]: value });
const withDates = (scheduledStart: string, scheduledEnd: string): Body => ({
  ...VENDOR_EXAMPLE,
  scheduledStart,
  scheduledEnd,
});
const without = (field: string): Body => {
  const body: Body = { ...VENDOR_EXAMPLE };
  delete body[field];
  return body;
};

describe('CreatePreventiveInterventionDto through ValidateRequestPipe', () => {
  describe('accepts', () => {
    it.each<[string, Body]>([
      ['the vendor example', { ...VENDOR_EXAMPLE }],
      ['+02:00 offsets', withDates('2024-12-01T12:34:56+02:00', '2024-12-05T14:56:23+02:00')],
      ['a negative offset', withDates('2024-12-01T12:34:56-05:30', '2024-12-05T14:56:23-05:30')],
      ['no fractional seconds', withDates('2024-12-01T12:34:56Z', '2024-12-05T14:56:23Z')],
      [
        '3-digit fractional seconds',
        withDates('2024-12-01T12:34:56.123Z', '2024-12-05T14:56:23.456Z'),
      ],
      [
        '6-digit fractional seconds',
        withDates('2024-12-01T12:34:56.123456Z', '2024-12-05T14:56:23.654321Z'),
      ],
      ['creationStatus 0 (toScheduled)', withField('creationStatus', 0)],
      ['creationStatus 1 (scheduled)', withField('creationStatus', 1)],
      ['creationStatus 2 (done)', withField('creationStatus', 2)],
      ['routineId 1', withField('routineId', 1)],
      ['routineId Number.MAX_SAFE_INTEGER', withField('routineId', Number.MAX_SAFE_INTEGER)],
      ['a leap day 2024-02-29', withDates('2024-02-29T08:00:00Z', '2024-03-01T08:00:00Z')],
      [
        'an end later than the start only once offsets are applied',
        withDates('2024-12-01T12:00:00+02:00', '2024-12-01T11:00:00Z'),
      ],
      [
        'an end one millisecond after the start',
        withDates('2024-12-01T12:00:00.000Z', '2024-12-01T12:00:00.001Z'),
      ],
    ])('%s', (_name, body) => {
      const result = validate(body);
      expect(result).toBeInstanceOf(CreatePreventiveInterventionDto);
      // Exactly the four fields, values unchanged (no date re-formatting, no number coercion).
      expect(Object.keys(result as object).sort()).toEqual([...FIELDS].sort());
      expect({ ...(result as object) }).toStrictEqual(body);
    });

    it('returns a CreatePreventiveInterventionDto with exactly the four own keys', () => {
      const result = validate({ ...VENDOR_EXAMPLE });
      expect(result).toBeInstanceOf(CreatePreventiveInterventionDto);
      expect(Reflect.ownKeys(result as object).sort()).toEqual([...FIELDS].sort());
      expect(result).toMatchObject(VENDOR_EXAMPLE);
    });
  });

  describe('rejects date-times', () => {
    const BAD_DATE_TIMES: [string, unknown][] = [
      ['a date-only string', '2024-12-01'],
      ['no time-zone designator', '2024-12-01T12:34:56'],
      ['no time-zone designator, with milliseconds', '2024-12-01T12:34:56.000'],
      ['an impossible date (Feb 30)', '2024-02-30T12:00:00Z'],
      ['Feb 29 of a non-leap year', '2023-02-29T12:00:00Z'],
      ['month 13', '2024-13-01T12:00:00Z'],
      ['month 00', '2024-00-01T12:00:00Z'],
      ['day 32', '2024-12-32T12:00:00Z'],
      ['hour 24', '2024-12-01T24:00:00Z'],
      ['minute 60', '2024-12-01T12:60:00Z'],
      ['a space instead of T', '2024-12-01 12:34:56Z'],
      ['an empty fraction', '2024-12-01T12:34:56.Z'],
      ['an offset without a colon', '2024-12-01T12:34:56+0200'],
      ['an epoch number', 1733056496000],
      ['a small number', 0],
      ['an empty string', ''],
      ['null', null],
      ['a boolean', true],
      ['an object', {}],
      ['surrounding whitespace', ' 2024-12-01T12:34:56Z '],
    ];

    it.each(BAD_DATE_TIMES)('scheduledStart: %s', (_name, value) => {
      expectValidationFailure(withField('scheduledStart', value), 'scheduledStart');
    });

    it.each(BAD_DATE_TIMES)('scheduledEnd: %s', (_name, value) => {
      expectValidationFailure(withField('scheduledEnd', value), 'scheduledEnd');
    });
  });

  describe('requires scheduledEnd strictly after scheduledStart', () => {
    it.each<[string, string, string]>([
      ['end equal to start', '2024-12-01T12:00:00Z', '2024-12-01T12:00:00Z'],
      [
        'end equal to start, written differently',
        '2024-12-01T12:00:00Z',
        '2024-12-01T12:00:00.000Z',
      ],
      ['end before start', '2024-12-05T14:56:23.000Z', '2024-12-01T12:34:56.000Z'],
      ['end equal to start across offsets', '2024-12-01T12:00:00+02:00', '2024-12-01T10:00:00Z'],
      // Looks later by wall clock, but 12:00+02:00 is 10:00Z, before 11:00Z.
      ['end before start across offsets', '2024-12-01T11:00:00Z', '2024-12-01T12:00:00+02:00'],
    ])('%s', (_name, start, end) => {
      const { problem } = problemFor(withDates(start, end));
      expect(problem.status).toBe(400);
      expect(problem.type).toMatch(/validation-failed$/);
      expect(problem.errors).toEqual([
        { field: 'scheduledEnd', message: expect.stringContaining('scheduledStart') },
      ]);
    });
  });

  describe('rejects creationStatus', () => {
    it.each<[string, unknown]>([
      ['the string "1"', '1'],
      ['the string "0"', '0'],
      ['3', 3],
      ['-1', -1],
      ['1.5', 1.5],
      ['true', true],
      ['false', false],
      ['null', null],
      ['NaN', Number.NaN],
      ['an array [1]', [1]],
      ['the name "scheduled"', 'scheduled'],
    ])('%s', (_name, value) => {
      expectValidationFailure(withField('creationStatus', value), 'creationStatus');
    });
  });

  describe('rejects routineId', () => {
    it.each<[string, unknown]>([
      ['0', 0],
      ['-1', -1],
      ['-0', -0],
      ['1.5', 1.5],
      ['the string "1"', '1'],
      ['1e300', 1e300],
      ['2^53 (9007199254740992)', 9007199254740992],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['NaN', Number.NaN],
      ['the string "NaN"', 'NaN'],
      ['the string "Infinity"', 'Infinity'],
      ['the string "abc"', 'abc'],
      ['an empty string', ''],
      ['null', null],
      ['true', true],
      ['an array [1]', [1]],
    ])('%s', (_name, value) => {
      expectValidationFailure(withField('routineId', value), 'routineId');
    });
  });

  describe('rejects a missing field', () => {
    it.each(FIELDS)('%s', (field) => {
      expectValidationFailure(without(field), field);
    });

    it('an empty object reports all four fields', () => {
      const { problem } = problemFor({});
      expect(problem.status).toBe(400);
      expect((problem.errors ?? []).map((e) => e.field).sort()).toEqual([...FIELDS].sort());
    });
  });

  describe('rejects unknown properties instead of dropping them', () => {
    it('foo', () => {
      expectValidationFailure({ ...VENDOR_EXAMPLE, foo: 'bar' }, 'foo');
    });

    it('several unknown properties are all named', () => {
      const { problem } = problemFor({ ...VENDOR_EXAMPLE, foo: 1, bar: 2 });
      expect((problem.errors ?? []).map((e) => e.field).sort()).toEqual(['bar', 'foo']);
    });

    it.each<[string, string]>([
      ['constructor', '"constructor":{"name":"x"}'],
      ['constructor (a plain value)', '"constructor":1'],
      ['__proto__', '"__proto__":{"polluted":true}'],
    ])('%s', (field, member) => {
      // Parsed from JSON, so the key is an own property, as the request body parser builds it.
      const json = `${JSON.stringify(VENDOR_EXAMPLE).slice(0, -1)},${member}}`;
      const body = JSON.parse(json) as Body;
      expect(Object.keys(body)).toContain(field.split(' ')[0]);
      expectValidationFailure(body, field.split(' ')[0]);
      expect(({} as Body).polluted).toBeUndefined();
    });
  });

  describe('rejects a body that is not a JSON object', () => {
    it('no body at all: 415 unsupported-media-type', () => {
      const { problem } = problemFor(undefined);
      expect(problem.status).toBe(415);
      expect(problem.type).toMatch(/unsupported-media-type$/);
      expect(problem.detail).toContain('application/json');
      expect(problem.errors).toBeUndefined();
    });

    it.each<[string, unknown]>([
      ['an array', [VENDOR_EXAMPLE]],
      ['an empty array', []],
      ['null', null],
      ['a string', JSON.stringify(VENDOR_EXAMPLE)],
      ['an empty string', ''],
      ['a number', 1],
      ['a boolean', true],
    ])('%s: 400 malformed-request', (_name, body) => {
      const { problem } = problemFor(body);
      expect(problem.status).toBe(400);
      expect(problem.type).toMatch(/malformed-request$/);
      expect(problem.detail).toMatch(/JSON object/);
    });
  });

  it('leaves path parameters and custom arguments alone', () => {
    const pipe = new ValidateRequestPipe();
    for (const type of ['param', 'custom'] as const)
      expect(pipe.transform('x', { type, metatype: CreatePreventiveInterventionDto })).toBe('x');
  });

  it('validates a query string as strictly as a body: no conversion, no unknown parameter', () => {
    const pipe = new ValidateRequestPipe();
    const query = (value: object) => () =>
      pipe.transform(value, { type: 'query', metatype: CreatePreventiveInterventionDto });
    expect(query({ ...VENDOR_EXAMPLE, routineId: '1' })).toThrow('The query string is invalid.');
    expect(query({ ...VENDOR_EXAMPLE, extra: 'x' })).toThrow('The query string is invalid.');
  });
});

describe('counterexamples found by the property-based test', () => {
  it.each(['toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__'])(
    'rejects an unknown key named after Object.prototype.%s',
    (key) => expectValidationFailure({ ...VENDOR_EXAMPLE, [key]: 1 }, key),
  );

  it('orders date-times below the millisecond', () => {
    expect(() =>
      validate({
        ...VENDOR_EXAMPLE,
        scheduledStart: '2024-12-01T12:34:56.0001Z',
        scheduledEnd: '2024-12-01T12:34:56.0002Z',
      }),
    ).not.toThrow();
    expectValidationFailure(
      {
        ...VENDOR_EXAMPLE,
        scheduledStart: '2024-12-01T12:34:56.0002Z',
        scheduledEnd: '2024-12-01T12:34:56.0001Z',
      },
      'scheduledEnd',
    );
  });

  it('knows that year 0000 is a leap year', () => {
    expect(() =>
      validate({
        ...VENDOR_EXAMPLE,
        scheduledStart: '0000-02-29T00:00:00Z',
        scheduledEnd: '0000-03-01T00:00:00Z',
      }),
    ).not.toThrow();
  });
});
