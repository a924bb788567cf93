/** The deploy output viewer: `<LogView deployId live onEnd />`. */
export { LogView, type LogViewProps } from './LogView';
export { parseLineHash, formatLineHash, type LineRange } from './hash';
