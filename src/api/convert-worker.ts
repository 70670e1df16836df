// The rule editor's conversion, in a worker thread of its own (src/api/convert.ts): says it is ready,
// converts the one document it is then sent, and answers.
import { parentPort } from 'node:worker_threads';
import { convertText, type ConvertRequest } from './convert-text.js';

const port = parentPort!;
port.once('message', (body: ConvertRequest) => port.postMessage(convertText(body)));
port.postMessage('ready');
