// The quipu extension: starts `quipu lsp` for Markdown files and hands
// everything else to it (definition, references, completion, hover,
// diagnostics, code actions, symbols, links, folding, code lenses).
import * as vscode from 'vscode';
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration('quipu');
  const command = config.get<string>('path', 'quipu');
  const serverOptions: ServerOptions = {
    run: { command, args: ['lsp'], transport: TransportKind.stdio },
    debug: { command, args: ['lsp'], transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file', language: 'markdown' }],
    initializationOptions: {
      unlinkedReferences: config.get<boolean>('unlinkedReferences', false),
    },
    middleware: {
      // A lens runs our ".show" command, which peeks at the locations the
      // server's command returns (the plain command would drop them).
      provideCodeLenses: async (document, token, next) => {
        const lenses = await next(document, token);
        for (const lens of lenses ?? []) {
          if (lens.command && lens.command.command.startsWith('quipu.')) {
            lens.command.command += '.show';
          }
        }
        return lenses;
      },
    },
  };
  client = new LanguageClient('quipu', 'quipu', serverOptions, clientOptions);
  // The code lenses' commands return locations: show them in the peek view.
  for (const name of ['quipu.backlinks', 'quipu.unlinked', 'quipu.mentions', 'quipu.tasks']) {
    context.subscriptions.push(
      vscode.commands.registerCommand(name + '.show', async (...args: unknown[]) => {
        const locs = (await client?.sendRequest('workspace/executeCommand', {
          command: name,
          arguments: args,
        })) as { uri: string; range: { start: { line: number; character: number } } }[];
        const editor = vscode.window.activeTextEditor;
        if (!editor || !locs) return;
        await vscode.commands.executeCommand(
          'editor.action.showReferences',
          editor.document.uri,
          editor.selection.active,
          locs.map(
            (l) =>
              new vscode.Location(
                vscode.Uri.parse(l.uri),
                new vscode.Position(l.range.start.line, l.range.start.character),
              ),
          ),
        );
      }),
    );
  }
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
