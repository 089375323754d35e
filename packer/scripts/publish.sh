#!/bin/sh
# Packer post-processor, on the build host: the qcow2 becomes a zstd-compressed raw
# image (what the deploy ramdisk streams) and its sha256 file beside it.
set -eu
: "${OUTPUT_DIR:?}" "${IMAGE_NAME:?}"
qcow2="$OUTPUT_DIR/$IMAGE_NAME.qcow2"
raw="$OUTPUT_DIR/$IMAGE_NAME.raw"
qemu-img convert -O raw "$qcow2" "$raw"
zstd -q -f -T0 "-${ZSTD_LEVEL:-10}" --rm "$raw" -o "$raw.zst"
cd "$OUTPUT_DIR"
sha256sum "$IMAGE_NAME.raw.zst" > "$IMAGE_NAME.raw.zst.sha256"
echo "published $OUTPUT_DIR/$IMAGE_NAME.raw.zst ($(wc -c < "$IMAGE_NAME.raw.zst") bytes)"
