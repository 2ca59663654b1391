import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import type { HeadersObject } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, PROBLEMS, ProblemKind } from '../common/problem';
import { FieldErrorDto, ProblemDto } from './problem.dto';

export interface ProblemResponseOptions {
  readonly status: number | '4XX';
  readonly description: string;
  readonly kind: ProblemKind;
  readonly detail: string;
  readonly errors?: readonly FieldErrorDto[];
  readonly headers?: HeadersObject;
}

/** Documents an error response with the problem schema and a realistic example body. */
export function ApiProblemResponse(
  options: ProblemResponseOptions,
): MethodDecorator & ClassDecorator {
  const { kind, detail, errors } = options;
  const status = typeof options.status === 'number' ? options.status : PROBLEMS[kind].status;
  return applyDecorators(
    ApiExtraModels(ProblemDto, FieldErrorDto),
    ApiResponse({
      status: options.status,
      description: options.description,
      headers: options.headers,
      content: {
        [PROBLEM_CONTENT_TYPE]: {
          schema: { $ref: getSchemaPath(ProblemDto) },
          example: {
            type: PROBLEM_TYPE_BASE + kind,
            title: PROBLEMS[kind].title,
            status,
            detail,
            requestId: '0f8fad5b-d9cb-469f-a165-70867728950e',
            traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
            ...(errors ? { errors } : {}),
          },
        },
      },
    }),
  );
}
