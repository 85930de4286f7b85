"""SyncFolderHierarchy: folder creations, changes and deletions below a folder (msgfolderroot by default)."""

from sandbox.exchange.folders import render_folder
from sandbox.exchange.soap import EwsError, child, sub, success_message
from sandbox.exchange.sync import decode_state, encode_state


def sync_folder_hierarchy(ctx, req, msgs):
    shape = child(req, "FolderShape", ns=ctx.M)
    with ctx.per_message(msgs):
        target = child(req, "SyncFolderId", ns=ctx.M)
        if target is not None:
            mb, root = ctx.store.resolve_folder(ctx.acting, target[0], ctx.check_access)
        else:
            if ctx.acting is None:
                raise EwsError("ErrorAccessDenied")
            mb = ctx.acting
            root = mb["folders"][ctx.store.distinguished_id(mb, "msgfolderroot")]
        state_el = child(req, "SyncState", ns=ctx.M)
        has_state = state_el is not None and (state_el.text or "").strip()
        watermark = decode_state(state_el.text, root["id"], ctx.store.epoch, "folders") if has_state else 0
        changes = []
        for folder in ctx.store.subfolders(mb, root["id"], deep=True):
            if folder["change"] > watermark:
                created = folder.get("created_change", 0) > watermark
                changes.append((folder["change"], "Create" if created else "Update", folder))
        for folder_id, (deleted, created, ancestors) in mb.get("folder_tombstones", {}).items():
            if root["id"] in ancestors and deleted > watermark and created <= watermark:
                changes.append((deleted, "Delete", folder_id))
        changes.sort(key=lambda c: c[0])
        rm = success_message(msgs, "SyncFolderHierarchy")
        sub(rm, "m:SyncState", encode_state(root["id"], max(ctx.store.change, watermark), ctx.store.epoch, "folders"))
        sub(rm, "m:IncludesLastFolderInRange", "true")
        container = sub(rm, "m:Changes")
        for _change, kind, obj in changes:
            el = sub(container, kind)
            if kind == "Delete":
                sub(el, "FolderId", Id=obj)
            else:
                el.append(render_folder(ctx.store, mb, obj, shape))
