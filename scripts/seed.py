"""Seed the emulator for the local run: two delivery streams to S3, one healthy and one whose
DeliveryToS3.Success stays at 0 while records arrive; keeps their metrics fresh every 30 s."""
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
fh, cw, s3 = boto3.client("firehose", **kw), boto3.client("cloudwatch", **kw), boto3.client("s3", **kw)

def stream(name):
    s3.create_bucket(Bucket=f"{name}-bucket")
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::123456789012:role/{name}-role",
            "BucketARN": f"arn:aws:s3:::{name}-bucket", "Prefix": "data/",
            "CompressionFormat": "UNCOMPRESSED",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 5},
            "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
        })

def put(name, metric, t, v):
    cw.put_metric_data(Namespace="AWS/Firehose", MetricData=[{
        "MetricName": metric, "Timestamp": t, "Value": v,
        "Dimensions": [{"Name": "DeliveryStreamName", "Value": name}]}])

stream("orders-to-s3")
stream("clicks-to-s3")
print("seeded: orders-to-s3 (failing: success 0 while records arrive), clicks-to-s3 (healthy)", flush=True)
done = set()
while True:
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    for k in range(1, 6):
        t = minute - timedelta(minutes=k)
        if t in done:
            continue
        done.add(t)
        put("orders-to-s3", "IncomingRecords", t, 120)
        put("orders-to-s3", "DeliveryToS3.Success", t, 0)
        put("clicks-to-s3", "IncomingRecords", t, 80)
        put("clicks-to-s3", "DeliveryToS3.Success", t, 1)
    time.sleep(30)
