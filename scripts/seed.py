"""Seed the emulator for the local run: two delivery streams to S3 with their role, policies and
log groups. clicks-to-s3 is healthy. orders-to-s3 has the classic fault of AWS's troubleshooting
article: its bucket policy denies every request that does not come through a VPC endpoint, which
includes Firehose's own; its DeliveryToS3.Success stays at 0 while records arrive. The metrics
are kept fresh every 30 s."""
import json
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
fh, cw, s3 = boto3.client("firehose", **kw), boto3.client("cloudwatch", **kw), boto3.client("s3", **kw)
iam, logs = boto3.client("iam", **kw), boto3.client("logs", **kw)
ACCOUNT = "123456789012"

def stream(name):
    bucket = f"{name}-bucket"
    s3.create_bucket(Bucket=bucket)
    iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
        "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": ACCOUNT}}}]}))
    group = f"/aws/kinesisfirehose/{name}"
    iam.put_role_policy(RoleName=f"{name}-role", PolicyName="delivery", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject",
             "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"],
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
            {"Effect": "Allow", "Action": "logs:PutLogEvents",
             "Resource": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:log-stream:*"}]}))
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="DestinationDelivery")
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::123456789012:role/{name}-role",
            "BucketARN": f"arn:aws:s3:::{name}-bucket", "Prefix": "data/",
            "CompressionFormat": "UNCOMPRESSED",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 5},
            "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
            "CloudWatchLoggingOptions": {"Enabled": True, "LogGroupName": group, "LogStreamName": "DestinationDelivery"},
        })

def put(name, metric, t, v):
    cw.put_metric_data(Namespace="AWS/Firehose", MetricData=[{
        "MetricName": metric, "Timestamp": t, "Value": v,
        "Dimensions": [{"Name": "DeliveryStreamName", "Value": name}]}])

stream("orders-to-s3")
stream("clicks-to-s3")
s3.put_bucket_policy(Bucket="orders-to-s3-bucket", Policy=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Sid": "DenyOutsideVpce", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
    "Resource": ["arn:aws:s3:::orders-to-s3-bucket", "arn:aws:s3:::orders-to-s3-bucket/*"],
    "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0a1b2c3d4e5f"}}}]}))
print("seeded: orders-to-s3 (failing: a bucket policy denies requests outside a VPC endpoint), clicks-to-s3 (healthy)", flush=True)
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
