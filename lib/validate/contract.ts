import { z } from 'zod';
import type { ColumnType } from '../data/table.js';

/** One column's rules, compiled from the zod schema of a row. */
export interface ColumnRule {
  column: string;
  type: ColumnType;
  nullable: boolean;
  min?: number;
  max?: number;
  integer?: boolean;
  /** Allowed values of a string column (from z.enum / z.literal). */
  allowed?: string[];
  unique?: boolean;
}

export class ContractDefinitionError extends Error {
  override readonly name = 'ContractDefinitionError';
}

type Any = z.core.$ZodType & { type: string };

function finite(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) && Math.abs(n) < Number.MAX_SAFE_INTEGER ? n : undefined;
}

/**
 * Compiles a data contract (a zod object describing one row) into column rules that are checked column by column
 * in plain loops; zod itself is never run per row. Supported: z.number() with min/max/int, z.string(), z.enum,
 * z.literal, z.boolean(), z.date(), each optionally .nullable()/.optional(); `.meta({ unique: true })` for uniqueness.
 */
export function compileContract(schema: z.ZodObject): ColumnRule[] {
  return Object.entries(schema.shape).map(([column, field]) => {
    let node = field as unknown as Any;
    let nullable = false;
    let unique = false;
    for (;;) {
      if ((z.globalRegistry.get(node as z.ZodType) as { unique?: boolean } | undefined)?.unique) unique = true;
      if (node.type === 'nullable' || node.type === 'optional') {
        nullable = true;
        node = (node as unknown as z.ZodNullable<z.ZodType>).unwrap() as unknown as Any;
      } else break;
    }
    const rule: ColumnRule = { column, type: 'string', nullable, ...(unique ? { unique } : {}) };
    switch (node.type) {
      case 'number': {
        const n = node as unknown as z.ZodNumber;
        rule.type = 'number';
        const min = finite(n.minValue);
        const max = finite(n.maxValue);
        if (min !== undefined) rule.min = min;
        if (max !== undefined) rule.max = max;
        if (n.isInt) rule.integer = true;
        return rule;
      }
      case 'string':
        return rule;
      case 'enum':
        rule.allowed = (node as unknown as z.ZodEnum).options.map(String);
        return rule;
      case 'literal':
        rule.allowed = [...(node as unknown as z.ZodLiteral).values].map(String);
        return rule;
      case 'boolean':
        rule.type = 'boolean';
        return rule;
      case 'date':
        rule.type = 'timestamp';
        return rule;
      default:
        throw new ContractDefinitionError(`contract column ${column}: zod type ${node.type} is not supported`);
    }
  });
}
