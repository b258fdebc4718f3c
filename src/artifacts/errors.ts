import { ConflictError, InvalidInputError, NotFoundError } from '../core/index.ts';

/** No artifact of this app has this version. */
export class ArtifactNotFoundError extends NotFoundError {
  constructor(
    readonly app: string,
    readonly version: string,
  ) {
    super(`Cannot find version "${version}" of app "${app}" in the artifact repository`, {
      hint: `Run \`slipway artifacts list --app ${app}\` to see its versions`,
    });
  }
}

/** A version is stored already with other content: versions are immutable. */
export class ArtifactVersionConflictError extends ConflictError {
  constructor(
    readonly app: string,
    readonly version: string,
    readonly storedSha256: string,
    readonly uploadedSha256: string,
  ) {
    super(
      `Cannot store version "${version}" of app "${app}": that version holds another file (sha256 ${storedSha256.slice(0, 12)}…, this one is ${uploadedSha256.slice(0, 12)}…)`,
      {
        hint: 'Versions are immutable: build a new version (a new build number) instead of replacing this one',
        details: { storedSha256, uploadedSha256 },
        retryable: false,
      },
    );
  }
}

/** The package name belongs to another app. */
export class PackageOwnedByOtherAppError extends ConflictError {
  constructor(
    readonly packageName: string,
    readonly owner: string,
    readonly app: string,
  ) {
    super(`Cannot store package "${packageName}" for app "${app}": app "${owner}" publishes that package`, {
      hint: 'Give the package another name in slipway.yaml (package.name)',
      retryable: false,
    });
  }
}

/** An upload did not arrive whole or does not match what the client said it sent. */
export class UploadRejectedError extends InvalidInputError {
  constructor(message: string, hint: string, details?: unknown) {
    super(message, { hint, details, retryable: false });
  }
}

/** The uploaded file is not a Debian package that dpkg-deb can read. */
export class NotADebianPackageError extends InvalidInputError {
  constructor(reason: string) {
    super(`Cannot store the upload: it is not a Debian package dpkg-deb can read: ${reason}`, {
      hint: 'Upload a .deb built with `dpkg-deb --build`',
      retryable: false,
    });
  }
}

/** A channel has never had a version promoted to it. */
export class ChannelNotFoundError extends NotFoundError {
  constructor(readonly channel: string) {
    super(`Cannot find channel "${channel}": no version was promoted to it`, {
      hint: 'Promote a version first with `slipway artifacts promote APP VERSION --channel ' + channel + '`',
    });
  }
}
