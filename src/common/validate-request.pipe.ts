import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { ValidationError, validateSync } from 'class-validator';
import { FieldError, ProblemException } from './problem';

function toFieldErrors(errors: readonly ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...toFieldErrors(error.children ?? [], field)];
  });
}

const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates request bodies and query strings against their DTO class. Stricter than Nest's
 * ValidationPipe on purpose: no implicit conversion ("1" is not 1: a query DTO's fields are the
 * strings they were sent as), unknown properties are an error rather than dropped, and a body must
 * be a JSON object.
 */
@Injectable()
export class ValidateRequestPipe implements PipeTransform {
  transform(value: unknown, { type, metatype }: ArgumentMetadata): unknown {
    if ((type !== 'body' && type !== 'query') || !metatype) return value;
    const part = type === 'body' ? 'request body' : 'query string';
    // Fastify only leaves the body undefined when there was none and no Content-Type to parse it by.
    if (value === undefined) {
      throw new ProblemException(
        'unsupported-media-type',
        'Content-Type must be application/json.',
      );
    }
    if (!isPlainObject(value)) {
      throw new ProblemException('malformed-request', 'The request body must be a JSON object.');
    }
    // class-transformer silently skips every key naming an Object.prototype member (constructor,
    // toString, valueOf, hasOwnProperty...), so the whitelist below would never see them.
    const reserved = Object.keys(value).filter(
      (key) => RESERVED_KEYS.has(key) || key in Object.prototype,
    );
    if (reserved.length > 0) {
      throw new ProblemException('validation-failed', `The ${part} is invalid.`, {
        errors: reserved.map((field) => ({ field, message: `property ${field} should not exist` })),
      });
    }
    // The DTOs are flat classes of JSON primitives, so a class-transformer pass would build just
    // this, at several times the cost. A nested DTO would need plainToInstance (and @Type) here.
    const instance = Object.assign(new (metatype as new () => object)(), value);
    const errors = validateSync(instance, {
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      stopAtFirstError: true,
      validationError: { target: false, value: false },
    });
    if (errors.length > 0) {
      throw new ProblemException('validation-failed', `The ${part} is invalid.`, {
        errors: toFieldErrors(errors),
      });
    }
    return instance;
  }
}
