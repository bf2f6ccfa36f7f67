/** Self-contained HTML pages (exports, records of processing): escaping and plain tables, no assets. */

export const escapeHtml = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const tableHead = (cols: string[]) => `<table><thead><tr>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>\n`;
/** One row; the cells are HTML already (escape text before). */
export const tr = (cells: string[]) => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>\n`;
export const htmlTable = (head: string[], rows: string[][]) => `${tableHead(head)}${rows.map(tr).join('')}</tbody></table>\n`;
