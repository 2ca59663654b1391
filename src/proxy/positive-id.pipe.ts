import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { ProblemException } from '../common/problem';

// Digits only and no leading zero: ParseIntPipe would take "-1", "007", "1e3" and 2^60.
const POSITIVE_DECIMAL = /^[1-9][0-9]{0,15}$/;

/** A path parameter that names a record: a positive safe integer written in plain digits. */
@Injectable()
export class PositiveIdPipe implements PipeTransform<string, number> {
  transform(value: string, { data: field = 'id' }: ArgumentMetadata): number {
    const id = Number(value);
    if (POSITIVE_DECIMAL.test(value) && Number.isSafeInteger(id)) return id;
    throw new ProblemException('validation-failed', 'The request path is invalid.', {
      errors: [
        {
          field,
          message: `${field} must be a positive integer (at most ${Number.MAX_SAFE_INTEGER}) in plain digits`,
        },
      ],
    });
  }
}
