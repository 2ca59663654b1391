import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';

/** How much of the intervention to read; a query string value is a string, never converted. */
export class ReadOneQueryDto {
  @ApiPropertyOptional({ enum: ['summary', 'full'], example: 'summary' })
  @IsOptional()
  @IsIn(['summary', 'full'])
  readonly view?: 'summary' | 'full';
}
