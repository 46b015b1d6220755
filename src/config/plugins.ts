/**
 * Config schemas of the network source and sink, kept apart so schema.ts stays readable.
 */
export const sourceSchemas = [] as const;
export const sinkSchemas = [] as const;
