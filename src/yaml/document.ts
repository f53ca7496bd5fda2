// `yaml` where a file is edited or pointed into: its documents keep comments, quoting and layout, and know each
// node's place in the source (js-yaml keeps neither).
import { Document, isMap, isNode, isScalar, isSeq, LineCounter, parseAllDocuments, type Scalar } from 'yaml';

export { isMap, isScalar, isSeq, type Document, type Scalar };

/** A path of map keys and list indexes into a document. */
export type NodePath = ReadonlyArray<string | number>;

/** A file's documents as written, and where in the file a node or an error stands. */
export interface SourceDocuments {
  documents: Document.Parsed[];
  /** The line (from 1) of an offset in the text: a node's `range[0]`, an error's `pos[0]`. */
  lineAt(offset: number): number;
  /** The line of the deepest node on `path` that exists in `doc`, so a message points as near as it can. */
  lineOf(doc: Document, path: NodePath): number;
}

export function parseDocuments(text: string): SourceDocuments {
  const counter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter: counter });
  const lineAt = (offset: number): number => counter.linePos(offset).line;
  const lineOf = (doc: Document, path: NodePath): number => {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = doc.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) return lineAt(node.range[0]);
    }
    return doc.contents?.range ? lineAt(doc.contents.range[0]) : 1;
  };
  return { documents, lineAt, lineOf };
}

/** A plain value as nodes, to walk the same way as a parsed document's. */
export function nodeOf(value: unknown): unknown {
  return new Document(value).contents;
}
