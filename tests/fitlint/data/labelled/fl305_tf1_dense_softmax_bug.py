# expect: FL305
# TensorFlow 1 tf.layers.dense
import tensorflow as tf

x = tf.placeholder(tf.float32, [None, 30])
y = tf.placeholder(tf.float32, [None, 1])
hidden = tf.layers.dense(x, 16, activation=tf.nn.relu)
prob = tf.layers.dense(hidden, units=1, activation=tf.nn.softmax)
loss = tf.losses.log_loss(y, prob)
train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
